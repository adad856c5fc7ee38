"""The district simulator: realistic intake and realistic units, driven through the front door.

``simulate(runtime, days=21, start=…, seed=7)`` builds raw records of the four channels for the
runtime's district (any ``SanshiConfig``), sends them through the channel adapters and the
intake port, and has units, the centre and residents act on the cases through the application
service in simulated business time. See :mod:`adapters.simulator.run`.
"""

from adapters.simulator.district import Surge
from adapters.simulator.run import Simulation, SimulationReport, simulate

__all__ = ["Simulation", "SimulationReport", "Surge", "simulate"]
