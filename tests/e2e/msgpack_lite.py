"""A minimal msgpack encoder and decoder, enough for idlink snapshots.

The tests read and craft snapshots with it, independently of the C code, the
way a user of another language would. Standard library only."""

import struct


def pack(v):
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack("b", v)
        if v >= 0:
            return b"\xcf" + struct.pack(">Q", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, str):
        b = v.encode("utf-8")
        if len(b) < 32:
            return bytes([0xA0 | len(b)]) + b
        return b"\xdb" + struct.pack(">I", len(b)) + b
    if isinstance(v, (list, tuple)):
        head = bytes([0x90 | len(v)]) if len(v) < 16 else b"\xdd" + struct.pack(">I", len(v))
        return head + b"".join(pack(x) for x in v)
    if isinstance(v, dict):
        head = bytes([0x80 | len(v)]) if len(v) < 16 else b"\xdf" + struct.pack(">I", len(v))
        return head + b"".join(pack(k) + pack(x) for k, x in v.items())
    raise TypeError("cannot pack %r" % (v,))


class Truncated(Exception):
    pass


def unpack_one(buf, off):
    """Decodes the object at buf[off:]; returns (value, next offset)."""
    def need(n):
        if off + n > len(buf):
            raise Truncated(off)

    need(1)
    t = buf[off]
    off += 1
    fixed = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
             0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q"}
    if t < 0x80:
        return t, off
    if t >= 0xE0:
        return t - 256, off
    if t == 0xC0:
        return None, off
    if t in (0xC2, 0xC3):
        return t == 0xC3, off
    if t in fixed:
        n = struct.calcsize(fixed[t])
        need(n)
        return struct.unpack_from(fixed[t], buf, off)[0], off + n
    if 0xA0 <= t <= 0xBF or t in (0xD9, 0xDA, 0xDB):
        if t <= 0xBF:
            n = t & 0x1F
        else:
            size = {0xD9: 1, 0xDA: 2, 0xDB: 4}[t]
            need(size)
            n = int.from_bytes(buf[off:off + size], "big")
            off += size
        need(n)
        return bytes(buf[off:off + n]).decode("utf-8"), off + n
    def count(small, sizes):
        """The element count of an array or map header: in t, or after it."""
        nonlocal off
        if t <= small:
            return t & 0x0F
        size = sizes[t]
        need(size)
        n = int.from_bytes(buf[off:off + size], "big")
        off += size
        return n

    if 0x90 <= t <= 0x9F or t in (0xDC, 0xDD):
        n = count(0x9F, {0xDC: 2, 0xDD: 4})
        out = []
        for _ in range(n):
            v, off = unpack_one(buf, off)
            out.append(v)
        return out, off
    if 0x80 <= t <= 0x8F or t in (0xDE, 0xDF):
        n = count(0x8F, {0xDE: 2, 0xDF: 4})
        out = {}
        for _ in range(n):
            k, off = unpack_one(buf, off)
            v, off = unpack_one(buf, off)
            out[k] = v
        return out, off
    raise ValueError("unsupported msgpack type 0x%02x at %d" % (t, off - 1))


def read_snapshot(buf):
    """Returns (header, rows, trailer, offset of the trailer)."""
    header, off = unpack_one(buf, 0)
    rows = []
    while True:
        at = off
        obj, off = unpack_one(buf, off)
        if isinstance(obj, dict):
            return header, rows, obj, at
        rows.append(obj)


def write_snapshot(rows, last_seq=0, version=1, contacts=None, count=None, crc=None):
    """A snapshot of rows, with every field overridable to make bad files."""
    import zlib
    head = pack({"format": "idlink-snapshot", "version": version, "created_at": 1,
                 "contacts": len(rows) if contacts is None else contacts,
                 "last_seq": last_seq})
    body = head + b"".join(pack(r) for r in rows)
    trailer = pack({"count": len(rows) if count is None else count,
                    "crc32": zlib.crc32(body) if crc is None else crc})
    return body + trailer
