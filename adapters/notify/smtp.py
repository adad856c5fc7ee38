"""E-mail over SMTP with the standard library (smtplib, email).

``SANSHI_SMTP_URL``: ``smtp://[user:password@]host[:port]?from=notice@example.gov.cn`` (plain,
or STARTTLS with ``&starttls=1``), ``smtps://…`` for implicit TLS. One connection per notice: a
sender that delivers a few notices a minute gains nothing from keeping one open, and a server
that dropped an idle connection costs nothing.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from urllib.parse import parse_qs, unquote, urlparse

from .port import DeliveryFailed, OutgoingNotice, Receipt

# Lines up to RFC 5322's limit: the 64-character key stays on its header's line (folded, a
# receiver would read it with a leading space).
_POLICY = SMTP.clone(max_line_length=998)


class SmtpSender:
    channel = "email"

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        u = urlparse(url)
        if u.scheme not in ("smtp", "smtps") or not u.hostname:
            raise ValueError("SANSHI_SMTP_URL 应为 smtp://host:port?from=… 或 smtps://…")
        query = parse_qs(u.query)
        self.host = u.hostname
        self.tls = u.scheme == "smtps"
        self.port = u.port or (465 if self.tls else 25)
        self.user = unquote(u.username) if u.username else None
        self.password = unquote(u.password) if u.password else None
        self.starttls = query.get("starttls", ["0"])[0] in ("1", "true", "yes")
        self.sender = query.get("from", [f"sanshi@{self.host}"])[0]
        self.timeout = timeout

    def message(self, notice: OutgoingNotice) -> EmailMessage:
        msg = EmailMessage(policy=_POLICY)
        msg["From"] = self.sender
        msg["To"] = notice.address
        msg["Subject"] = notice.subject or notice.body[:30]
        msg["Date"] = format_datetime(notice.at)
        # The key in the Message-ID: a mail client shows a resent notice as the same message.
        msg["Message-ID"] = make_msgid(idstring=notice.key[:32], domain="sanshi.notice")
        msg["X-Sanshi-Notice-Key"] = notice.key
        msg.set_content(notice.body)
        return msg

    def send(self, notice: OutgoingNotice) -> Receipt:
        msg = self.message(notice)
        try:
            client: smtplib.SMTP
            if self.tls:
                client = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.starttls:
                    client.starttls(context=ssl.create_default_context())
                if self.user:
                    client.login(self.user, self.password or "")
                refused = client.send_message(msg)
        except smtplib.SMTPRecipientsRefused as e:
            raise DeliveryFailed(f"收件人被拒绝 (recipient refused: {_codes(e.recipients)})", permanent=True) from None
        except smtplib.SMTPResponseException as e:
            # 5xx: the server refuses this message for good; 4xx: try again later.
            raise DeliveryFailed(
                f"邮件服务器拒绝 (SMTP {e.smtp_code})", permanent=500 <= e.smtp_code < 600
            ) from None
        except (OSError, smtplib.SMTPException) as e:
            raise DeliveryFailed(f"邮件服务器不可用 ({type(e).__name__})") from None
        if refused:
            raise DeliveryFailed(f"收件人被拒绝 (recipient refused: {_codes(refused)})", permanent=True)
        return Receipt(f"smtp:{msg['Message-ID']}")

    def close(self) -> None:
        pass


def _codes(refused: dict[str, tuple[int, bytes]]) -> str:
    return ", ".join(str(code) for code, _ in refused.values())
