"""The compiler: a MessageSpec in, Python classes and codecs out.

For each message we generate Python source and ``exec`` it, each piece when it is
first needed (compiling everything up front took ~0.8 s of a broker's start-up):

- one class per struct (the message body and every nested struct), with
  ``__slots__``, made at once; its keyword-only ``__init__`` holding the schema
  defaults, ``__eq__`` and ``__repr__`` are generated on its first use;
- one decoder and one encoder per version, generated on the first use of that
  version (``compiled.decoders[v]``), with nested structs inlined into their
  parent's loops, so a message is decoded or encoded by a single straight-line
  function, never by walking the schema. Once made, a codec is an ordinary dict
  entry: the hot path pays nothing for the laziness.

Runs of fixed-width fields (and the int16/int32 length prefix that may follow them)
become one precompiled ``struct.Struct`` call. Decoders take ``bytes`` or a
``memoryview`` and return ``records`` as zero-copy slices of it. Encoders append
pieces to a list and join them once, so record data is copied exactly once.

Wire rules (Kafka's): non-flexible versions use int16/int32 length prefixes (-1 =
null); flexible versions use compact lengths (unsigned varint of length+1, 0 = null)
and end every struct with a tagged-field section. A tagged field is written only
when it differs from its default, so untouched sections stay empty (librdkafka
before 2.2 mis-skips tagged fields nobody asked for).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable

from protocol.message_classes import MISSING, literal, make_class
from protocol.schema import FIXED_TYPES, Field, MessageSpec, Struct

__all__ = [
    "CompiledMessage",
    "DecodeError",
    "EncodeError",
    "compile_message",
    "generated_source",
    "read_uvarint",
    "skip_tagged_fields",
    "uvarint_bytes",
]


class DecodeError(Exception):
    """A malformed or truncated message body or header."""


class EncodeError(Exception):
    """A message object that cannot be written in the requested version."""


# What a generated decoder may raise on bad input; it is re-raised as DecodeError.
_DECODE_FAILURES = (struct.error, IndexError, ValueError, OverflowError)
# Wrong types or values handed to an encoder.
_ENCODE_FAILURES = (struct.error, TypeError, AttributeError, ValueError, OverflowError)


# ---------------------------------------------------------------------------
# Runtime helpers, shared by every generated function.

# Single-byte varints (0..127) as ready-made bytes: most lengths and counts.
_UVB = tuple(bytes((i,)) for i in range(128))


def uvarint_bytes(n: int) -> bytes:
    """Kafka's unsigned varint."""
    if 0 <= n < 128:
        return _UVB[n]
    if n < 0 or n > 0xFFFFFFFF:
        raise ValueError(f"uvarint out of range: {n}")
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _uv_rest(buf, pos: int, first: int) -> tuple[int, int]:
    """Finish a varint whose first byte (high bit set) was already read."""
    value = first & 0x7F
    shift = 7
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise DecodeError("varint longer than 5 bytes")


def read_uvarint(buf, pos: int) -> tuple[int, int]:
    """(value, new position) of the unsigned varint at pos."""
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    return _uv_rest(buf, pos + 1, b)


def _skip_tags(buf, pos: int, count: int) -> int:
    """Skip `count` tagged fields (count already read, maybe as a first varint byte)."""
    if count > 0x7F:
        count, pos = _uv_rest(buf, pos, count)
    blen = len(buf)
    for _ in range(count):
        _, pos = read_uvarint(buf, pos)
        size, pos = read_uvarint(buf, pos)
        pos += size
        if pos > blen:
            raise DecodeError("tagged field runs past the end")
    return pos


def skip_tagged_fields(buf, pos: int) -> int:
    """Skip a whole tagged-field section; returns the position after it."""
    count = buf[pos]
    return _skip_tags(buf, pos + 1, count) if count else pos + 1


_ARRAY_STRUCTS: dict[tuple[str, int], struct.Struct] = {}


def _array_struct(code: str, n: int) -> struct.Struct:
    s = _ARRAY_STRUCTS.get((code, n))
    if s is None:
        s = struct.Struct(">" + code * n if len(code) > 1 else f">{n}{code}")
        if n <= 256:  # keep the cache small; long arrays are rare
            _ARRAY_STRUCTS[(code, n)] = s
    return s


def _arr_unpack(code: str, n: int, buf, pos: int) -> list:
    return list(_array_struct(code, n).unpack_from(buf, pos))


# A run of fixed fields that includes arrays of fixed-width elements (replica lists)
# packs in one call with a Struct made for the arrays' lengths (its "shape").
# Template items: a struct code, "x" (a zero pad) or (element code, compact).
_SHAPE_CACHE_MAX = 512


class _SlowShape:
    """Packs a shape Struct cannot express (a compact length of 127 or more)."""

    __slots__ = ("template", "key")

    def __init__(self, template: tuple, key: tuple):
        self.template = template
        self.key = key

    def pack(self, *args) -> bytes:
        out = []
        it = iter(args)
        lengths = iter(self.key)
        for item in self.template:
            if item == "x":
                out.append(b"\x00")
            elif isinstance(item, str):
                out.append(struct.pack(">" + item, next(it)))
            else:
                code, compact = item
                n = next(lengths)
                prefix = next(it)
                out.append(uvarint_bytes(prefix) if compact else struct.pack(">i", prefix))
                if n > 0:
                    out.append(_array_struct(code, n).pack(*(next(it) for _ in range(n))))
        return b"".join(out)


def _shape(template: tuple, cache: dict, key: tuple):
    fmt = [">"]
    lengths = iter(key)
    for item in template:
        if isinstance(item, str):
            fmt.append(item)
            continue
        code, compact = item
        n = next(lengths)
        if compact and n >= 127:  # length+1 no longer fits one varint byte
            return _SlowShape(template, key)
        fmt.append("B" if compact else "i")
        if n > 0:
            fmt.append(code * n if len(code) > 1 else f"{n}{code}")
    packer = struct.Struct("".join(fmt))
    if len(cache) < _SHAPE_CACHE_MAX:
        cache[key] = packer
    return packer


def _trunc() -> DecodeError:
    return DecodeError("length runs past the end of the buffer")


def _bad(what: str) -> DecodeError:
    return DecodeError(what)


_HELPERS = {
    "_new": object.__new__,
    "_MISSING": MISSING,
    "_UVB": _UVB,
    "_uvb": uvarint_bytes,
    "_uv": read_uvarint,
    "_uv_rest": _uv_rest,
    "_skip_tags": _skip_tags,
    "_arr_unpack": _arr_unpack,
    "_shape": _shape,
    "_trunc": _trunc,
    "_bad": _bad,
    "DecodeError": DecodeError,
    "EncodeError": EncodeError,
    "_DECODE_FAILURES": _DECODE_FAILURES,
    "_ENCODE_FAILURES": _ENCODE_FAILURES,
}

# Prefix widths of non-compact lengths.
_PREFIX = {"string": "h", "bytes": "i", "records": "i"}
_PREFIX_SIZE = {"h": 2, "i": 4}


class _Codecs(dict):
    """version -> compiled function, filled on first use of a version.

    Indexing a version the spec has compiles it (KeyError for one it lacks), and
    ``get`` does the same; iterating shows only the versions compiled so far.
    """

    __slots__ = ("_compile",)

    def __init__(self, compile_version: Callable[[int], object]):
        super().__init__()
        self._compile = compile_version

    def __missing__(self, version: int):
        self._compile(version)  # stores into this dict, or raises KeyError
        return dict.__getitem__(self, version)

    def get(self, version: int, default=None):
        try:
            return self[version]
        except KeyError:
            return default

    def __contains__(self, version: object) -> bool:
        return self.get(version) is not None


class CompiledMessage:
    """A message's classes and its per-version codecs, each compiled on first use.

    Compiling every codec of every message took most of a broker's start-up (about
    0.8 s for ~120 messages); a broker uses a few dozen (API, version) pairs, so each
    decoder and encoder is generated when first asked for (``decoders[v]``), and a
    class's methods when its first instance is made.
    """

    __slots__ = (
        "spec",
        "cls",
        "classes",
        "decoders",
        "encoders",
        "encoders_into",
        "_ns",
        "_by_source",
    )

    def __init__(self, spec: MessageSpec, cls: type, classes: dict[str, type], ns: dict):
        self.spec = spec
        self.cls = cls  # the root class, e.g. ProduceRequest
        self.classes = classes  # every struct class by type name (root included)
        self._ns = ns  # the generated code's globals (helpers, Structs, classes)
        # Versions whose generated source is the same share one function.
        self._by_source: dict[str, tuple[object, object]] = {}
        self.decoders: dict[int, Callable[[bytes | memoryview], object]] = _Codecs(
            self._compile_decoder
        )
        self.encoders: dict[int, Callable[[object], bytes]] = _Codecs(self._compile_encoder)
        # encoder(msg, out) appends the pieces to the list `out` (no final join).
        self.encoders_into: dict[int, Callable[[object, list], None]] = _Codecs(
            self._compile_encoder
        )

    def _generate(self, kind: str, version: int) -> tuple[object, object]:
        if version not in self.spec.valid:
            raise KeyError(version)
        ns = self._ns
        if "_DEFAULTS_MADE" not in ns:  # default instances of nested structs, for encoders
            ns["_DEFAULTS_MADE"] = True
            for st in self.spec.structs.values():
                ns[f"D_{st.name}"] = self.classes[st.name]()  # never mutated
        src = _Source(ns)
        gen = _Decoder if kind == "dec" else _Encoder
        gen(self.spec, src, version, version in self.spec.flexible).function("__FN__")
        text = "\n".join(src.lines)
        fns = self._by_source.get(text)
        if fns is None:
            fname = f"_{kind}_{version}"
            code = compile(
                text.replace("__FN__", fname), f"<{self.spec.name} {kind} v{version}>", "exec"
            )
            exec(code, ns)
            fns = self._by_source[text] = (ns[fname], ns.get(f"{fname}_into"))
        return fns

    def _compile_decoder(self, version: int) -> None:
        dict.__setitem__(self.decoders, version, self._generate("dec", version)[0])

    def _compile_encoder(self, version: int) -> None:
        enc, enc_into = self._generate("enc", version)
        dict.__setitem__(self.encoders, version, enc)
        dict.__setitem__(self.encoders_into, version, enc_into)


def _default_expr(f: Field) -> str:
    """Source for a fresh copy of a field's default."""
    if isinstance(f.default, list):
        return "[]"
    return literal(f.default)


def _is_compact(f: Field, version: int, flexible: bool) -> bool:
    return flexible and (f.flexible is None or version in f.flexible)


def _present(st: Struct, version: int, flexible: bool) -> tuple[list[Field], list[Field]]:
    """(fields in wire order, tagged fields by tag) of a struct at a version."""
    plain, tagged = [], []
    for f in st.fields:
        if version not in f.versions:
            continue
        if flexible and f.is_tagged(version):
            tagged.append(f)
        else:
            plain.append(f)
    tagged.sort(key=lambda f: f.tag)
    return plain, tagged


def _min_size(st: Struct, version: int, flexible: bool) -> int:
    """The fewest bytes a struct can take on the wire (bounds hostile array counts)."""
    plain, _ = _present(st, version, flexible)
    size = 1 if flexible else 0
    for f in plain:
        compact = _is_compact(f, version, flexible)
        if f.is_array:
            size += 1 if compact else 4
        elif f.type in FIXED_TYPES:
            size += FIXED_TYPES[f.type][1]
        elif f.struct is not None:
            nullable = version in f.nullable
            size += 1 if nullable else _min_size(f.struct, version, flexible)
        else:
            size += 1 if compact else _PREFIX_SIZE[_PREFIX[f.type]]
    return size


class _Source:
    """Lines of generated code plus the constants they refer to."""

    def __init__(self, ns: dict):
        self.lines: list[str] = []
        self.ns = ns
        self.counter = 0

    def var(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def struct_const(self, fmt: str) -> str:
        # Named by format so identical versions generate identical source.
        name = "_S_" + fmt[1:].replace("?", "o").replace("16s", "u")
        if name not in self.ns:
            self.ns[name] = struct.Struct(fmt)
        return name


class _Group:
    """A run of fixed-width items waiting to become one Struct.pack/unpack."""

    __slots__ = ("items", "ap", "lst")

    def __init__(self, ap: str = "", lst: str = ""):
        self.items: list[tuple[str, str | None]] = []
        self.ap = ap  # encoder: name of the bound append of the output list
        self.lst = lst  # encoder: name of the output list


class _Decoder:
    def __init__(self, msg: MessageSpec, src: _Source, version: int, flexible: bool):
        self.msg = msg
        self.src = src
        self.v = version
        self.flex = flexible

    def flush(self, g: _Group, ind: int) -> None:
        if not g.items:
            return
        fmt = ">" + "".join(code for code, _ in g.items)
        name = self.src.struct_const(fmt)
        targets = ", ".join(t for _, t in g.items)
        if len(g.items) == 1:
            targets += ","
        self.src.emit(ind, f"{targets} = {name}.unpack_from(buf, pos)")
        self.src.emit(ind, f"pos += {struct.calcsize(fmt)}")
        g.items.clear()

    def read_len(self, g: _Group, ind: int, compact: bool, prefix: str) -> str:
        """Emit code reading a length/count; negative means null. Returns its variable."""
        n = self.src.var("n")
        if compact:
            self.flush(g, ind)
            e = self.src.emit
            e(ind, f"{n} = buf[pos]")
            e(ind, "pos += 1")
            e(ind, f"if {n} > 127: {n}, pos = _uv_rest(buf, pos, {n})")
            e(ind, f"{n} -= 1")
        else:
            # The prefix joins the preceding fixed run: one unpack for both.
            g.items.append((prefix, n))
            self.flush(g, ind)
        return n

    def struct(self, st: Struct, obj: str, ind: int) -> None:
        e = self.src.emit
        e(ind, f"{obj} = _new(C_{st.name})")
        plain, tagged = _present(st, self.v, self.flex)
        on_wire = {id(f) for f in plain}
        for f in st.fields:
            if id(f) not in on_wire:  # absent in this version, or tagged: the default
                e(ind, f"{obj}.{f.attr} = {_default_expr(f)}")
        g = _Group()
        for f in plain:
            self.field(f, f"{obj}.{f.attr}", ind, g, f"{st.name}.{f.name}")
        self.flush(g, ind)
        if self.flex:
            self.tags(tagged, obj, ind, st.name)

    def tags(self, tagged: list[Field], obj: str, ind: int, where: str) -> None:
        e = self.src.emit
        t = self.src.var("t")
        e(ind, f"{t} = buf[pos]")
        e(ind, "pos += 1")
        if not tagged:
            e(ind, f"if {t}: pos = _skip_tags(buf, pos, {t})")
            return
        tag, size, end = self.src.var("tag"), self.src.var("sz"), self.src.var("tend")
        e(ind, f"if {t}:")
        e(ind + 1, f"if {t} > 127: {t}, pos = _uv_rest(buf, pos, {t})")
        e(ind + 1, f"for _ in range({t}):")
        i2 = ind + 2
        e(i2, f"{tag}, pos = _uv(buf, pos)")
        e(i2, f"{size}, pos = _uv(buf, pos)")
        e(i2, f"{end} = pos + {size}")
        e(i2, f"if {end} > blen: raise _trunc()")
        for i, f in enumerate(tagged):
            e(i2, f"{'if' if i == 0 else 'elif'} {tag} == {f.tag}:")
            g = _Group()
            self.field(f, f"{obj}.{f.attr}", i2 + 1, g, f"{where}.{f.name}")
            self.flush(g, i2 + 1)
            e(i2 + 1, f"if pos > {end}: raise _bad('tagged field {f.name} overran its size')")
            e(i2 + 1, f"pos = {end}")
        e(i2, "else:")
        e(i2 + 1, f"pos = {end}")

    def null_or_error(self, n: str, target: str, nullable: bool, ind: int, what: str) -> int:
        """Emit the null branch of a length; returns the indent of the non-null branch."""
        e = self.src.emit
        if nullable:
            e(ind, f"if {n} < 0:")
            e(ind + 1, f"{target} = None")
            e(ind, "else:")
            return ind + 1
        e(ind, f"if {n} < 0: raise _bad('non-nullable field {what} was null')")
        return ind

    def blob(self, ftype: str, n: str, target: str, ind: int) -> None:
        """Emit code taking n bytes at pos as a string, bytes or records value."""
        e = self.src.emit
        end = self.src.var("end")
        e(ind, f"{end} = pos + {n}")
        e(ind, f"if {end} > blen: raise _trunc()")
        if ftype == "string":
            e(ind, f"{target} = buf[pos:{end}].tobytes().decode()")
        elif ftype == "bytes":
            e(ind, f"{target} = buf[pos:{end}].tobytes()")
        else:  # records: a zero-copy view of the input
            e(ind, f"{target} = buf[pos:{end}]")
        e(ind, f"pos = {end}")

    def field(self, f: Field, target: str, ind: int, g: _Group, what: str) -> None:
        e = self.src.emit
        v = self.v
        compact = _is_compact(f, v, self.flex)
        nullable = v in f.nullable
        if not f.is_array:
            if f.type in FIXED_TYPES:
                g.items.append((FIXED_TYPES[f.type][0], target))
            elif f.struct is not None:
                self.flush(g, ind)
                inner = ind
                if nullable:  # KIP-893: int8 -1 = null, 1 = present
                    e(ind, "if buf[pos] > 127:")
                    e(ind + 1, "pos += 1")
                    e(ind + 1, f"{target} = None")
                    e(ind, "else:")
                    e(ind + 1, "pos += 1")
                    inner = ind + 1
                o = self.src.var("o")
                self.struct(f.struct, o, inner)
                e(inner, f"{target} = {o}")
            else:
                n = self.read_len(g, ind, compact, _PREFIX[f.type])
                inner = self.null_or_error(n, target, nullable, ind, what)
                self.blob(f.type, n, target, inner)
            return

        n = self.read_len(g, ind, compact, "i")
        inner = self.null_or_error(n, target, nullable, ind, what)
        elem = f.elem_type
        if elem in FIXED_TYPES:
            code, size = FIXED_TYPES[elem]
            e(inner, f"if {n} * {size} > blen - pos: raise _trunc()")
            e(inner, f"{target} = _arr_unpack({code!r}, {n}, buf, pos)")
            e(inner, f"pos += {n} * {size}")
            return
        lst, ap = self.src.var("l"), self.src.var("ap")
        if f.struct is not None:
            min_size = max(_min_size(f.struct, v, self.flex), 1)
        else:
            min_size = 1 if compact else _PREFIX_SIZE[_PREFIX[elem]]
        e(inner, f"if {n} * {min_size} > blen - pos: raise _trunc()")
        e(inner, f"{lst} = []")
        e(inner, f"{ap} = {lst}.append")
        e(inner, f"for _ in range({n}):")
        body = inner + 1
        if f.struct is not None:
            o = self.src.var("o")
            self.struct(f.struct, o, body)
            e(body, f"{ap}({o})")
        else:
            g2 = _Group()
            m = self.read_len(g2, body, compact, _PREFIX[elem])
            e(body, f"if {m} < 0: raise _bad('null element in {what}')")
            item = self.src.var("x")
            self.blob(elem, m, item, body)
            e(body, f"{ap}({item})")
        e(inner, f"{target} = {lst}")

    def function(self, fname: str) -> None:
        e = self.src.emit
        e(0, f"def {fname}(buf):")
        e(1, "if buf.__class__ is not memoryview:")
        e(2, "buf = memoryview(buf)")
        e(1, "blen = len(buf)")
        e(1, "pos = 0")
        e(1, "try:")
        self.struct(self.msg.root, "o0", 2)
        e(1, "except _DECODE_FAILURES as exc:")
        e(2, f"raise DecodeError(f'{self.msg.name} v{self.v}: {{exc!r}}') from exc")
        e(1, "return o0")


class _Encoder:
    def __init__(self, msg: MessageSpec, src: _Source, version: int, flexible: bool):
        self.msg = msg
        self.src = src
        self.v = version
        self.flex = flexible

    def flush(self, g: _Group, ind: int) -> None:
        if not g.items:
            return
        if any(not isinstance(code, str) for code, _ in g.items):
            self.flush_shaped(g, ind)
            return
        if all(x is None for _, x in g.items):  # only empty tagged sections: a constant
            self.src.emit(ind, f"{g.ap}({bytes(len(g.items))!r})")
            g.items.clear()
            return
        fmt = ">" + "".join(code for code, _ in g.items)
        name = self.src.struct_const(fmt)
        args = ", ".join(x for _, x in g.items if x is not None)
        self.src.emit(ind, f"{g.ap}({name}.pack({args}))")
        g.items.clear()

    def flush_shaped(self, g: _Group, ind: int) -> None:
        """One pack for fixed fields and fixed-element arrays, by the arrays' lengths."""
        e = self.src.emit
        template, args, lengths = [], [], []
        for code, x in g.items:
            if isinstance(code, str):
                template.append(code)
                if x is not None:
                    args.append(x)
                continue
            elem, compact, nullable = code
            template.append((elem, compact))
            n = self.src.var("n")
            lengths.append(n)
            if nullable:
                e(ind, f"{n} = -1 if {x} is None else len({x})")
                args.append(f"{n} + 1" if compact else n)
                args.append(f"*({x} or ())")
            else:
                e(ind, f"{n} = len({x})")
                args.append(f"{n} + 1" if compact else n)
                args.append(f"*{x}")
        g.items.clear()
        desc = "".join(
            t if isinstance(t, str) else f"_{t[0]}{'c' if t[1] else 'a'}_" for t in template
        )
        cache = "_SC_" + desc.replace("?", "o").replace("16s", "u")
        if cache not in self.src.ns:
            self.src.ns[cache] = {}
            self.src.ns[cache + "_t"] = tuple(template)
        key, packer = self.src.var("key"), self.src.var("p")
        e(ind, f"{key} = ({', '.join(lengths)},)")
        e(ind, f"{packer} = {cache}.get({key})")
        e(ind, f"if {packer} is None: {packer} = _shape({cache}_t, {cache}, {key})")
        e(ind, f"{g.ap}({packer}.pack({', '.join(args)}))")

    def write_len(self, g: _Group, ind: int, compact: bool, prefix: str, expr: str) -> None:
        """Emit a length/count (expr; -1 = null) as a compact varint or a fixed prefix."""
        if compact:
            self.flush(g, ind)
            k = self.src.var("k")
            self.src.emit(ind, f"{k} = {expr} + 1")
            self.src.emit(ind, f"{g.ap}(_UVB[{k}] if {k} < 128 else _uvb({k}))")
        else:
            g.items.append((prefix, expr))
            self.flush(g, ind)

    def struct(self, st: Struct, obj: str, ind: int, g: _Group) -> None:
        plain, tagged = _present(st, self.v, self.flex)
        for f in plain:
            self.field(f, f"{obj}.{f.attr}", ind, g)
        if self.flex:
            if tagged:
                self.tags(tagged, obj, ind, g)
            else:
                g.items.append(("x", None))  # an empty tagged section: one zero byte
        self.flush(g, ind)

    def differs(self, f: Field, x: str) -> str:
        """Source of a test: does x differ from the field's default?"""
        d = f.default
        if f.struct is not None and not f.is_array:
            return f"{x} is not None and {x} != D_{f.struct.name}"
        if d is None:
            return f"{x} is not None"
        if isinstance(d, list) or d in (b"", ""):
            return f"{x}"
        return f"{x} != {literal(d)}"

    def tags(self, tagged: list[Field], obj: str, ind: int, g: _Group) -> None:
        e = self.src.emit
        self.flush(g, ind)
        parts, count = self.src.var("tp"), self.src.var("tc")
        e(ind, f"{parts} = []")
        e(ind, f"{count} = 0")
        for f in tagged:
            x = self.src.var("x")
            e(ind, f"{x} = {obj}.{f.attr}")
            e(ind, f"if {self.differs(f, x)}:")
            sub = self.src.var("sl")
            e(ind + 1, f"{sub} = []")
            sg = _Group(ap=f"{sub}.append", lst=sub)
            self.field(f, x, ind + 1, sg)
            self.flush(sg, ind + 1)
            d = self.src.var("d")
            e(ind + 1, f"{d} = b''.join({sub})")
            e(ind + 1, f"{parts} += ({uvarint_bytes(f.tag)!r}, _uvb(len({d})), {d})")
            e(ind + 1, f"{count} += 1")
        e(ind, f"{g.ap}(_UVB[{count}])")
        e(ind, f"{g.lst}.extend({parts})")

    def field(self, f: Field, expr: str, ind: int, g: _Group) -> None:
        e = self.src.emit
        v = self.v
        compact = _is_compact(f, v, self.flex)
        nullable = v in f.nullable
        if not f.is_array:
            if f.type in FIXED_TYPES:
                g.items.append((FIXED_TYPES[f.type][0], expr))
                return
            x = self.src.var("x")
            e(ind, f"{x} = {expr}")
            if f.struct is not None:
                if nullable:  # KIP-893: int8 -1 = null, 1 = present
                    g.items.append(("b", f"-1 if {x} is None else 1"))
                    self.flush(g, ind)
                    e(ind, f"if {x} is not None:")
                    self.struct(f.struct, x, ind + 1, _Group(g.ap, g.lst))
                else:
                    e(ind, f"if {x} is None: {x} = D_{f.struct.name}")
                    self.struct(f.struct, x, ind, g)
                return
            if f.type == "string":
                b = self.src.var("b")
                if nullable:
                    e(ind, f"{b} = None if {x} is None else {x}.encode()")
                else:
                    e(ind, f"{b} = {x}.encode()")
                x = b
            if nullable:
                self.write_len(
                    g, ind, compact, _PREFIX[f.type], f"(-1 if {x} is None else len({x}))"
                )
                e(ind, f"if {x}: {g.ap}({x})")
            else:
                self.write_len(g, ind, compact, _PREFIX[f.type], f"len({x})")
                e(ind, f"{g.ap}({x})")
            return

        x = self.src.var("x")
        e(ind, f"{x} = {expr}")
        elem = f.elem_type
        if elem in FIXED_TYPES:  # joins the fixed run; packed by shape
            g.items.append(((FIXED_TYPES[elem][0], compact, nullable), x))
            return
        if nullable:
            self.write_len(g, ind, compact, "i", f"(-1 if {x} is None else len({x}))")
        else:
            self.write_len(g, ind, compact, "i", f"len({x})")
        item = self.src.var("y")
        if nullable:
            e(ind, f"if {x}:")
            ind += 1
        e(ind, f"for {item} in {x}:")
        body = ind + 1
        if f.struct is not None:
            self.struct(f.struct, item, body, _Group(g.ap, g.lst))
        else:
            ib = self.src.var("b")
            e(body, f"{ib} = {item}.encode()" if elem == "string" else f"{ib} = {item}")
            self.write_len(_Group(g.ap, g.lst), body, compact, _PREFIX[elem], f"len({ib})")
            e(body, f"{g.ap}({ib})")

    def function(self, fname: str) -> None:
        e = self.src.emit
        e(0, f"def {fname}_into(o0, out):")
        e(1, "ap = out.append")
        e(1, "try:")
        self.struct(self.msg.root, "o0", 2, _Group("ap", "out"))
        if self.src.lines[-1].endswith("try:"):  # a version without fields
            e(2, "pass")
        e(1, "except _ENCODE_FAILURES as exc:")
        e(2, f"raise EncodeError(f'{self.msg.name} v{self.v}: {{exc!r}}') from exc")
        e(0, f"def {fname}(o0):")
        e(1, "out = []")
        e(1, f"{fname}_into(o0, out)")
        e(1, "return b''.join(out)")


def compile_message(
    spec: MessageSpec, versions: Iterable[int] | None = None, module: str = "protocol.messages"
) -> CompiledMessage:
    """The classes of a message; its codecs compile on first use, or now for `versions`."""
    ns: dict = dict(_HELPERS)
    ns["__name__"] = module
    classes: dict[str, type] = {}
    for st in [spec.root, *spec.structs.values()]:
        qual = st.name if st is spec.root else f"{spec.name}.{st.name}"
        classes[st.name] = ns[f"C_{st.name}"] = make_class(st, qual, module, ns)
    root = classes[spec.root.name]
    for st in spec.structs.values():
        setattr(root, st.name, classes[st.name])
    compiled = CompiledMessage(spec, root, classes, ns)
    for v in versions or ():
        compiled.decoders[v]
        compiled.encoders[v]
    return compiled


def generated_source(spec: MessageSpec, version: int, kind: str = "dec") -> str:
    """The source a codec compiles to (for reading and debugging)."""
    src = _Source(dict(_HELPERS))
    gen = _Decoder if kind == "dec" else _Encoder
    gen(spec, src, version, version in spec.flexible).function(f"_{kind}_v{version}")
    return "\n".join(src.lines)
