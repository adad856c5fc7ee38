"""附件 (attachments): photos, recordings and documents on a case, at intake and as 办结凭证.

Pure: the bytes go to a content-addressed store behind the :class:`Blobs` port (adapters:
``adapters/attachments/``, a local directory or a PostgreSQL table; docs/attachments.md says
which and why); what a file *is* is decided by its content, not its name, by an
:class:`Inspector` (an adapter over ``filetype`` and Pillow); the case records each attachment
as an event (``AttachmentAdded``: SHA-256, type, size, name, who, when), so who added what is
in the log like every other act.

Content-addressed: the SHA-256 of the bytes names them, so the same photo sent twice is stored
once and the digest in the event proves which bytes the case refers to. With SANSHI_CIPHER_KEY
the bytes are sealed (a :class:`Codec`) and the store's address is an HMAC of the digest under
the district key: a plain SHA-256 as a file name would let anyone holding the store confirm that
a photo they already have is in it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from engine.domain import Case, DomainError, InvalidCommand

if TYPE_CHECKING:
    from engine.application import SanshiApplication

MiB = 1024 * 1024


class AttachmentKind(StrEnum):
    IMAGE = "image"  # 照片
    AUDIO = "audio"  # 录音
    DOCUMENT = "document"  # 文档


class Stage(StrEnum):
    INTAKE = "intake"  # 受理时 (the operator, or the app's photos)
    EVIDENCE = "evidence"  # 办结凭证 (the unit that holds the case)


KIND_LABELS = {AttachmentKind.IMAGE: "照片", AttachmentKind.AUDIO: "录音", AttachmentKind.DOCUMENT: "文档"}
STAGE_LABELS = {Stage.INTAKE: "受理附件", Stage.EVIDENCE: "办结凭证"}

# The types taken, by the MIME type the content shows (not the name's extension), with the
# extensions a name may carry for it. Anything else is refused: an SVG or HTML file served back
# from our origin could run script, an executable has no business in a grievance.
TYPES: dict[str, tuple[AttachmentKind, tuple[str, ...]]] = {
    "image/jpeg": (AttachmentKind.IMAGE, ("jpg", "jpeg", "jpe", "jfif")),
    "image/png": (AttachmentKind.IMAGE, ("png",)),
    "image/webp": (AttachmentKind.IMAGE, ("webp",)),
    "image/gif": (AttachmentKind.IMAGE, ("gif",)),
    "audio/mpeg": (AttachmentKind.AUDIO, ("mp3",)),
    "audio/mp4": (AttachmentKind.AUDIO, ("m4a", "mp4", "aac")),
    "audio/amr": (AttachmentKind.AUDIO, ("amr",)),
    "audio/x-wav": (AttachmentKind.AUDIO, ("wav",)),
    "audio/ogg": (AttachmentKind.AUDIO, ("ogg", "oga", "opus")),
    "application/pdf": (AttachmentKind.DOCUMENT, ("pdf",)),
}
KNOWN_EXTENSIONS = {ext: mime for mime, (_, exts) in TYPES.items() for ext in exts}
# Extensions of types we never take: a photo named ``a.exe`` or ``a.html`` is a disguise (or
# will be opened as one by whoever downloads it), so the name is refused like a mismatch.
FOREIGN_EXTENSIONS = frozenset(
    ["exe", "dll", "com", "bat", "cmd", "scr", "msi", "ps1", "vbs", "vbe", "wsf", "js", "mjs", "jar", "apk", "sh", "bin", "elf", "lnk", "hta", "cpl", "html", "htm", "xhtml", "shtml", "svg", "svgz", "xml", "xsl", "php", "asp", "aspx", "jsp", "swf", "zip", "rar", "7z", "gz", "tgz", "tar", "bz2", "xz", "iso", "dmg", "doc", "docx", "docm", "xls", "xlsx", "xlsm", "ppt", "pptx", "pptm", "rtf", "txt", "csv", "json"]
)


class AttachmentSettings(BaseModel):
    """``attachments:`` in the district config (docs/configuration.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_image_bytes: int = Field(default=10 * MiB, gt=0, le=100 * MiB)
    max_audio_bytes: int = Field(default=20 * MiB, gt=0, le=100 * MiB)
    max_document_bytes: int = Field(default=10 * MiB, gt=0, le=100 * MiB)
    max_per_case: int = Field(default=30, gt=0, le=500)
    # The app channel's photo URLs are fetched only from these hosts (exact names, lower case);
    # a URL on any other host is kept as given and never requested, so that a record cannot make
    # the server call into the internal network (SSRF).
    fetch_hosts: list[str] = []
    fetch_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    def limit_for(self, kind: AttachmentKind) -> int:
        return {
            AttachmentKind.IMAGE: self.max_image_bytes,
            AttachmentKind.AUDIO: self.max_audio_bytes,
            AttachmentKind.DOCUMENT: self.max_document_bytes,
        }[kind]

    @property
    def max_bytes(self) -> int:
        return max(self.max_image_bytes, self.max_audio_bytes, self.max_document_bytes)


# ---- ports -------------------------------------------------------------------------------------


class Blobs(Protocol):
    """A content-addressed store: ``put`` is idempotent (the same address holds the same
    plaintext), ``get`` of an absent address is None."""

    def put(self, address: str, data: bytes) -> None: ...

    def get(self, address: str) -> bytes | None: ...

    def has(self, address: str) -> bool: ...


class Codec(Protocol):
    """SANSHI_CIPHER_KEY's sealer (``adapters.transport.sealing.Sealer``)."""

    def seal(self, data: bytes) -> bytes: ...

    def open(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class Inspected:
    mime: str
    kind: AttachmentKind


class Inspector(Protocol):
    def inspect(self, data: bytes) -> Inspected | None:
        """The type the content shows, if it is one of :data:`TYPES`; else None."""

    def preview(self, data: bytes) -> bytes:
        """An image's preview: at most a few hundred pixels, re-encoded as JPEG without its
        metadata (no EXIF: a phone photo carries the place it was taken). Raises
        :class:`AttachmentUnreadable` for an image that does not decode."""


# ---- errors ------------------------------------------------------------------------------------


class AttachmentInvalid(InvalidCommand):
    """422: empty, a type we do not take, content that contradicts its name, a broken image."""

    code = "attachment_invalid"


class AttachmentUnreadable(AttachmentInvalid):
    code = "attachment_unreadable"


class AttachmentTooLarge(DomainError):
    """413 (the route maps it)."""

    code = "too_large"


class AttachmentNameRefused(DomainError):
    """400 (the route maps it): a name that is a path, or not text."""

    code = "bad_name"


# ---- names and digests -------------------------------------------------------------------------

MAX_NAME_CHARS = 100
# Control characters, and the invisible format ones: a right-to-left override shows
# "\u202egnp.exe" as "exe.png", a file type in disguise.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def clean_name(name: str) -> str:
    """The name as shown: NFC, at most 100 characters. A name that is a path (``../x``,
    ``a/b``, ``C:\\x``) or carries control characters is refused, not quietly cut down: the
    store never uses it as a path, but a client that sends one is not a browser."""
    name = unicodedata.normalize("NFC", name or "").strip()
    if not name:
        return "未命名"
    if (
        _CONTROL.search(name)
        or "/" in name
        or "\\" in name
        or name in (".", "..")
        or name.startswith("..")
        or re.match(r"^[A-Za-z]:", name)
        or any(0xD800 <= ord(c) <= 0xDFFF for c in name)
    ):
        raise AttachmentNameRefused("文件名不合法（不能含路径、控制字符或不可见的格式字符）")
    if len(name) > MAX_NAME_CHARS:
        raise AttachmentNameRefused(f"文件名过长（最多 {MAX_NAME_CHARS} 字）")
    return name


def extension_of(name: str) -> str:
    _, dot, ext = name.rpartition(".")
    return ext.lower() if dot and ext and len(ext) <= 8 else ""


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


DIGEST = re.compile(r"^[0-9a-f]{64}$")


# ---- the service -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Content:
    data: bytes
    mime: str
    name: str


class AttachmentService:
    """Adds attachments to cases and reads them back. The caller (an HTTP route, the photo
    fetcher) decides who may; the case decides whether it takes one now."""

    def __init__(
        self,
        app: SanshiApplication,
        blobs: Blobs,
        inspector: Inspector,
        settings: AttachmentSettings,
        codec: Codec | None = None,
        address_key: bytes | None = None,
    ) -> None:
        self.app = app
        self.blobs = blobs
        self.inspector = inspector
        self.settings = settings
        self.codec = codec
        # Only with a codec: without the cipher key there is nothing to hide the digest for.
        self.address_key = address_key if codec is not None else None

    def address(self, digest: str) -> str:
        if self.address_key is None:
            return digest
        return hmac.new(self.address_key, digest.encode("ascii"), hashlib.sha256).hexdigest()

    def check(self, data: bytes, name: str) -> tuple[Inspected, str]:
        """The type and the clean name, or the error a caller should see."""
        if len(data) > self.settings.max_bytes:
            raise AttachmentTooLarge(f"文件过大（最多 {self.settings.max_bytes // MiB} MiB）")
        clean = clean_name(name)
        if not data:
            raise AttachmentInvalid("文件为空（0 字节）")
        inspected = self.inspector.inspect(data)
        if inspected is None:
            raise AttachmentInvalid("不支持的文件类型（按内容识别）：仅收照片 JPEG/PNG/WebP/GIF、录音 MP3/M4A/AMR/WAV/OGG、文档 PDF")
        ext = extension_of(clean)
        if ext and (ext in KNOWN_EXTENSIONS or ext in FOREIGN_EXTENSIONS) and ext not in TYPES[inspected.mime][1]:
            raise AttachmentInvalid(f"文件内容（{inspected.mime}）与扩展名 .{ext} 不符")
        limit = self.settings.limit_for(inspected.kind)
        if len(data) > limit:
            raise AttachmentTooLarge(
                f"{KIND_LABELS[inspected.kind]}过大（最多 {limit // MiB} MiB）"
            )
        return inspected, clean

    def add(
        self,
        case_id: UUID,
        data: bytes,
        name: str,
        principal: str,
        *,
        unit: str | None = None,
        public: bool = False,
        source_url: str | None = None,
        at: dt.datetime | None = None,
    ) -> tuple[Case, dict[str, object]]:
        """Checks the content, stores it (and an image's preview), then records it on the case.
        ``unit``: the acting unit (its 办结凭证), None for the centre. Bytes stored for an
        attachment the case then refuses stay in the store unreferenced: content-addressed, they
        are harmless, and never shown (every read goes through a case that names them)."""
        inspected, clean = self.check(data, name)
        case = self.app.get_case(case_id)  # 404 before anything is stored
        preview: str | None = None
        if inspected.kind == AttachmentKind.IMAGE:
            small = self.inspector.preview(data)
            preview = digest_of(small)
            self._put(preview, small)
        digest = digest_of(data)
        self._put(digest, data)
        at = self.app._now(at)
        stage = Stage.EVIDENCE if unit is not None else Stage.INTAKE
        case = self.app._act(
            case.id,
            lambda c: c.add_attachment(
                digest=digest,
                kind=inspected.kind.value,
                mime=inspected.mime,
                size=len(data),
                name=clean,
                stage=stage.value,
                public=public,
                preview=preview,
                source_url=source_url,
                unit=unit,
                max_per_case=self.settings.max_per_case,
                principal=principal,
                at=at,
            ),
        )
        found = case.attachment(digest)
        assert found is not None
        return case, found

    def set_public(
        self, case_id: UUID, digest: str, public: bool, principal: str, at: dt.datetime | None = None
    ) -> Case:
        at = self.app._now(at)
        return self.app._act(
            case_id,
            lambda c: c.set_attachment_public(digest=digest, public=public, principal=principal, at=at),
        )

    def content(self, case: Case, digest: str, preview: bool = False) -> Content | None:
        """The bytes of an attachment the case names (or of its preview); None if it names no
        such attachment or the store has lost them."""
        found = case.attachment(digest) if DIGEST.match(digest or "") else None
        if found is None:
            return None
        if preview:
            if not found.get("preview"):
                return None
            data = self._get(str(found["preview"]))
            return Content(data, "image/jpeg", found["name"]) if data is not None else None
        data = self._get(digest)
        return Content(data, str(found["mime"]), str(found["name"])) if data is not None else None

    def _put(self, digest: str, data: bytes) -> None:
        address = self.address(digest)
        if self.blobs.has(address):
            return
        self.blobs.put(address, self.codec.seal(data) if self.codec else data)

    def _get(self, digest: str) -> bytes | None:
        raw = self.blobs.get(self.address(digest))
        if raw is None:
            return None
        data = self.codec.open(raw) if self.codec else raw
        # The store is not trusted to keep bytes intact: what comes back must be what was named.
        if digest_of(data) != digest:
            return None
        return data
