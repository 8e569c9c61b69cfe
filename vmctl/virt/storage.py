"""Storage pools and volumes through libvirt's storage API."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import libvirt

from vmctl.errors import Conflict, NotFound
from vmctl.progress import CountingReader
from vmctl.libvirtxml.storage import VolumeFacts, dir_pool_xml, parse_volume, pool_path
from vmctl.virt.errors import libvirt_errors, lookup, translate
from vmctl.virt.host import Host


class Pool:
    """A started libvirt storage pool."""

    def __init__(self, pool: libvirt.virStoragePool) -> None:
        self._pool = pool
        self.name: str = pool.name()
        with libvirt_errors(f"read pool {self.name}"):
            self.path = pool_path(pool.XMLDesc(0))

    @property
    def readonly_mode(self) -> str:
        """The mode of a volume nothing writes after its upload (base images, boot files):
        0444 for the system daemon (root writes it anyway); a session daemon runs as the
        user and could not upload into a read-only file, so 0600 (the user's own)."""
        from vmctl.spec.uris import is_session_uri

        with libvirt_errors(f"read pool {self.name}"):
            return "0600" if is_session_uri(self._pool.connect().getURI()) else "0444"

    @property
    def has_streams(self) -> bool:
        """Whether volume contents can be read and written (libvirt's test driver cannot)."""
        with libvirt_errors(f"read pool {self.name}"):
            return self._pool.connect().getType() != "TEST"

    def refresh(self) -> None:
        """Re-read the pool; waits (bounded, ~10 s) while another client's volume job runs."""
        for _ in range(50):
            try:
                self._pool.refresh(0)
                return
            except libvirt.libvirtError as exc:
                if "asynchronous jobs running" not in (exc.get_error_message() or ""):
                    with libvirt_errors(f"refresh pool {self.name}"):
                        raise
            time.sleep(0.2)
        with libvirt_errors(f"refresh pool {self.name}"):
            self._pool.refresh(0)

    def available(self) -> int:
        """Free bytes in the pool."""
        with libvirt_errors(f"read pool {self.name}"):
            return int(self._pool.info()[3])

    def capacity(self) -> int:
        with libvirt_errors(f"read pool {self.name}"):
            return int(self._pool.info()[1])

    def volumes(self) -> list[VolumeFacts]:
        """Every volume; one another client deletes while they are listed is left out."""
        with libvirt_errors(f"list volumes of {self.name}"):
            listed = self._pool.listAllVolumes(0)
        found = []
        for vol in listed:
            try:
                found.append(parse_volume(vol.XMLDesc(0)))
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:
                    raise translate(exc, f"list volumes of {self.name}") from None
        return found

    def volume_names(self) -> list[str]:
        """Names only: one call, however many volumes (for sweeps)."""
        with libvirt_errors(f"list volumes of {self.name}"):
            return sorted(self._pool.listVolumes())

    def volume(self, name: str) -> VolumeFacts:
        return parse_volume(self._lookup(name).XMLDesc(0))

    def has_volume(self, name: str) -> bool:
        try:
            self._lookup(name)
        except NotFound:
            return False
        return True

    def create_volume(self, xml: str) -> VolumeFacts:
        with libvirt_errors(f"create a volume in {self.name}"):
            vol = self._pool.createXML(xml, 0)
            return parse_volume(vol.XMLDesc(0))

    def clone_volume(self, xml: str, source: str) -> VolumeFacts:
        """A new volume (``xml``) made by libvirt with ``source``'s contents, in one call: it
        exists with all of them or not at all, whatever happens to this process meanwhile."""
        src = self._lookup(source)
        try:
            vol = self._pool.createXMLFrom(xml, src, 0)
        except libvirt.libvirtError as exc:
            if "already in use" in (exc.get_error_message() or ""):  # libvirt 9.0 says so, not VOL_EXIST
                raise Conflict(f"a volume of that name exists in {self.name}", hint="choose another name") from None
            raise translate(exc, f"create a volume in {self.name}") from None
        with libvirt_errors(f"read a volume in {self.name}"):
            return parse_volume(vol.XMLDesc(0))

    def delete_volume(self, name: str) -> None:
        vol = self._lookup(name)
        with libvirt_errors(f"delete volume {name}"):
            vol.delete(0)

    def resize_volume(self, name: str, capacity: int) -> None:
        """Grow a volume no domain has open to ``capacity`` bytes."""
        vol = self._lookup(name)
        with libvirt_errors(f"resize volume {name}"):
            vol.resize(capacity, 0)

    def upload(self, name: str, source: Path | bytes, offset: int = 0,
               on_bytes: Callable[[int], None] | None = None) -> None:
        """Copy a local file (or bytes) into an existing volume through a libvirt stream,
        at ``offset`` (bytes outside what is written stay as they were); ``on_bytes`` hears
        how many bytes were read so far."""
        vol = self._lookup(name)
        stream = vol.connect().newStream(0)
        length = len(source) if isinstance(source, bytes) else 0
        with libvirt_errors(f"upload into volume {name}"), _reader(source) as fh:
            reader = CountingReader(fh, on_bytes) if on_bytes is not None else fh
            try:
                vol.upload(stream, offset, length, 0)
                stream.sendAll(lambda _s, nbytes, f: f.read(nbytes), reader)
                stream.finish()
            except BaseException:
                _abort(stream)
                raise

    def download(self, name: str, length: int = 0) -> bytes:
        """Read a (small) volume whole, or its first ``length`` bytes, through a libvirt stream."""
        vol = self._lookup(name)
        stream = vol.connect().newStream(0)
        chunks: list[bytes] = []
        with libvirt_errors(f"read volume {name}"):
            try:
                vol.download(stream, 0, length, 0)
                stream.recvAll(lambda _s, data, acc: acc.append(data) or 0, chunks)
                stream.finish()
            except BaseException:
                _abort(stream)
                raise
        return b"".join(chunks)

    def _lookup(self, name: str) -> libvirt.virStorageVol:
        return lookup(lambda: self._pool.storageVolLookupByName(name), libvirt.VIR_ERR_NO_STORAGE_VOL,
                      NotFound(f"no volume {name!r} in pool {self.name}", hint="see `vmctl image list`"),
                      f"look up volume {name}")


def _reader(source: Path | bytes) -> BinaryIO:
    return io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")


def _abort(stream: libvirt.virStream) -> None:
    try:
        stream.abort()
    except libvirt.libvirtError:
        pass


def copy_volume(src: Pool, name: str, dst: Pool, chunk: int = 1 << 20) -> int:
    """Copy volume ``name``'s bytes from ``src`` into the existing volume of that name in
    ``dst`` (pools on different hosts), streaming chunk by chunk; returns the bytes copied."""
    source, target = src._lookup(name), dst._lookup(name)
    down, up = source.connect().newStream(0), target.connect().newStream(0)
    copied = 0
    with libvirt_errors(f"copy volume {name}"):
        try:
            source.download(down, 0, 0, 0)
            target.upload(up, 0, 0, 0)
            for _ in range(1 << 24):  # bounded: 16 Ti chunks
                data = down.recv(chunk)
                if isinstance(data, int) or not data:
                    break
                view = memoryview(data)
                while view:
                    sent = up.send(bytes(view))
                    view = view[sent:]
                copied += len(data)
            down.finish()
            up.finish()
        except BaseException:
            _abort(down)
            _abort(up)
            raise
    return copied


def ensure_dir_pool(host: Host, name: str, path: str) -> Pool:
    """Find pool ``name`` (any path) or create it as a dir pool at ``path``; start it."""
    with libvirt_errors(f"set up storage pool {name}"):
        try:
            pool = host.conn.storagePoolLookupByName(name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_POOL:
                raise
            pool = host.conn.storagePoolDefineXML(dir_pool_xml(name, path), 0)
            pool.build(0)
            pool.setAutostart(1)
        if not pool.isActive():
            pool.create(0)
    return Pool(pool)


def find_pool(host: Host, name: str) -> Pool | None:
    """The pool if it exists and runs, else None (for read-only commands)."""
    try:
        pool = host.conn.storagePoolLookupByName(name)
    except libvirt.libvirtError:
        return None
    with libvirt_errors(f"read pool {name}"):
        return Pool(pool) if pool.isActive() else None


def volume_by_path(host: Host, path: str) -> VolumeFacts | None:
    """The volume at ``path`` in any pool, or None if no pool holds it."""
    try:
        vol = host.conn.storageVolLookupByPath(path)
    except libvirt.libvirtError:
        return None
    with libvirt_errors(f"read volume {path}"):
        return parse_volume(vol.XMLDesc(0))


def pool_name_of(host: Host, path: str) -> str | None:
    """The name of the pool holding the volume at ``path``, or None if no pool holds it."""
    try:
        vol = host.conn.storageVolLookupByPath(path)
        return vol.storagePoolLookupByVolume().name()
    except libvirt.libvirtError:
        return None
