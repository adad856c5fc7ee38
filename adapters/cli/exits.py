"""Exit codes of every ``sanshi`` command, and the one line said when a service is not there.

====  =====================================================================================
code  meaning
====  =====================================================================================
0     done: every record was taken (受理, 重复, 留公安 all count as taken)
1     done, but some or all records were dead-lettered (死信): sending them again will not
      help; read ``sanshi dlq list``, fix the source, send those again
2     usage error, a bad district file, or an input file refused as a whole (its encoding,
      or a header without a required column): nothing of that file was stored
3     a service is unreachable: PostgreSQL (``SANSHI_DB``) or Kafka (``SANSHI_KAFKA``)
4     not finished: some records were not handed over (Kafka did not acknowledge them, the
      import was cut off): run the same command again; what was taken before is a duplicate
====  =====================================================================================

When several apply, the one that asks most of the operator wins: 3, then 4, then 2, then 1.
(1 and 4 were one code once; a script that re-sent on 1 re-sent dead letters for ever.)
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

from adapters.exception_chain import causes

OK = 0
DEAD_LETTERED = 1
REFUSED = 2
UNREACHABLE = 3
INCOMPLETE = 4

HELP = (
    "退出码：0 全部受理；1 有记录进入死信（重发无用，见 sanshi dlq list）；2 用法错误、配置错误或文件被拒绝"
    "（编码或表头不对，整个文件未导入）；3 无法连接 PostgreSQL（SANSHI_DB）或 Kafka（SANSHI_KAFKA）；"
    "4 未全部交出（Kafka 未确认或导入中断），请原样重新导入，已受理的记为重复"
)


def _masked_db(url: str) -> str:
    """The database address without its password."""
    try:
        parts = urlsplit(url)
        if parts.password:
            host = parts.hostname or ""
            netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
            return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "（无法解析）"
    return url


def _is_kafka_unreachable(exc: BaseException) -> bool:
    import kafka.errors

    # By name: kafka-python renamed and removed some of these between versions
    # (NoBrokersAvailable is gone from 3.x).
    names = ("KafkaConnectionError", "KafkaTimeoutError", "NoBrokersAvailable", "NodeNotReadyError")
    classes = tuple(c for c in (getattr(kafka.errors, n, None) for n in names) if isinstance(c, type))
    return isinstance(exc, classes)


def _is_database_unreachable(exc: BaseException) -> bool:
    from adapters.http.database import database_unavailable

    if database_unavailable(exc):
        return True
    from eventsourcing.persistence import InterfaceError, OperationalError

    # eventsourcing's own "couldn't get a connection after 5.00 sec" carries no driver error.
    return isinstance(exc, OperationalError | InterfaceError) and "connection" in str(exc).lower()


def kafka_message() -> str:
    where = os.environ.get("SANSHI_KAFKA") or "（未设置）"
    return (
        f"无法连接 Kafka（SANSHI_KAFKA={where}）：请检查 Kafka 是否已启动、地址和端口是否正确、"
        "本机能否访问；不用 Kafka 时请取消 SANSHI_KAFKA"
    )


def database_message() -> str:
    url = os.environ.get("SANSHI_DB") or "sqlite:///sanshi-data/sanshi.db（默认）"
    return (
        f"无法连接数据库（SANSHI_DB={_masked_db(url)}）：请检查 PostgreSQL 是否已启动、"
        "地址、端口、用户名和密码是否正确、本机能否访问"
    )


def unreachable(exc: BaseException) -> str | None:
    """The one line to print when ``exc`` means a service is not there; None otherwise."""
    for e in causes(exc, suppressed_too=True):
        if _is_kafka_unreachable(e):
            return kafka_message()
    for e in causes(exc, suppressed_too=True):
        if _is_database_unreachable(e):
            return database_message()
    return None
