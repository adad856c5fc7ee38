"""Intake keyed by place (按属地分区): the Kafka key of an intake record is its 属地, so that every
report about one place reaches the one worker that holds that place's open cases.

The duplicate index (``engine.routing.learning.duplicates``) only ever compares a new case with
open cases of the same category and the same locality (属地: the community, else the street,
that ``engine.routing.rules.Locator`` reads from the address, the text or the coordinates). So
the locality is the place key: ``place:<district>:<locality>``, read here with the router's own
Locator on the same inputs the router reads (``simplified`` address and text, the channel's
coordinates). Two reports the index could merge always share a key, hence a partition, hence a
worker. A record whose locality cannot be told keeps its case id as key (it spreads over the
partitions): the index never merges a case without a locality, so no duplicate is missed by it.

The worker side (``worker.PlaceShards``) turns partitions back into localities with
:func:`partition_of`, the producer's own partitioner (kafka-python's murmur2, as Java's).
"""

from __future__ import annotations

from collections.abc import Iterable

from kafka.partitioner.default import murmur2

from engine.config import SanshiConfig
from engine.intake import IntakeCommand
from engine.places import point_of
from engine.routing.learning.text import simplified
from engine.routing.rules import Locator
from engine.vocabulary import UnitKind


def partition_of(key: bytes, partitions: int) -> int:
    """The partition kafka-python's DefaultPartitioner (and Java's) gives ``key``."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


class PlaceKeys:
    """属地 → Kafka key, and back from partitions to the localities they hold."""

    def __init__(self, config: SanshiConfig) -> None:
        self.district = config.district.id
        self.locator = Locator(config)
        # Every locality the Locator can give: the district's communities and streets.
        self.localities = tuple(
            u.id for u in config.units if u.kind in (UnitKind.COMMUNITY, UnitKind.STREET)
        )

    def locality_of(self, cmd: IntakeCommand) -> str | None:
        """The locality the router will read for this record (None: it cannot tell)."""
        point = point_of(cmd.extra or {}, cmd.channel.value)
        return self.locator.locate(simplified(cmd.address), simplified(cmd.content), point).unit

    def key_for(self, locality: str) -> bytes:
        return f"place:{self.district}:{locality}".encode()

    def key_of(self, cmd: IntakeCommand) -> bytes:
        locality = self.locality_of(cmd)
        if locality is None:
            return str(cmd.case_id).encode("ascii")  # no place: spread by case id
        return self.key_for(locality)

    def partition_of_locality(self, locality: str, partitions: int) -> int:
        return partition_of(self.key_for(locality), partitions)

    def localities_in(self, owned: Iterable[int], partitions: int) -> set[str]:
        """The localities whose records go to the ``owned`` partitions."""
        mine = set(owned)
        return {
            loc for loc in self.localities if self.partition_of_locality(loc, partitions) in mine
        }
