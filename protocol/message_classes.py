"""The class of each struct of a message (codec.py compiles the codecs).

A class is made at once with ``type()`` and ``__slots__``; its keyword-only
``__init__`` (the schema defaults), ``__eq__`` and ``__repr__`` are generated from
source on the class's first use, since most of the ~300 classes are never
instantiated in a broker's life and compiling their methods up front cost start-up
time.
"""

from __future__ import annotations

from keyword import iskeyword

from protocol.schema import Struct

__all__ = ["MISSING", "literal", "make_class"]

# The default of list fields in generated __init__s (a fresh list per instance);
# generated code names it _MISSING, as codec.py puts it in their globals.
MISSING = object()


def literal(value: object) -> str:
    if isinstance(value, (bool, int, float, str, bytes)) or value is None:
        return repr(value)
    raise TypeError(f"no literal for default {value!r}")


def _methods_source(st: Struct, qualname: str) -> str:
    """``__init__``, ``__eq__`` and ``__repr__`` of a struct class, as plain defs."""
    attrs = [f.attr for f in st.fields]
    params = []
    lines = []
    for f in st.fields:
        a = f.attr
        if isinstance(f.default, list):
            params.append(f"{a}=_MISSING")
            lines.append(f"    self_.{a} = [] if {a} is _MISSING else {a}")
        else:
            params.append(f"{a}={literal(f.default)}")
            lines.append(f"    self_.{a} = {a}")
    if params:
        lines.insert(0, f"def __init__(self_, *, {', '.join(params)}):")
    else:
        lines = ["def __init__(self_):", "    pass"]
    lines.append("def __eq__(self_, other):")
    lines.append("    if other.__class__ is not self_.__class__:")
    lines.append("        return NotImplemented")
    cmp = " and ".join(f"self_.{a} == other.{a}" for a in attrs) or "True"
    lines.append(f"    return {cmp}")
    lines.append("def __repr__(self_):")
    shown = ", ".join(f"{a}={{self_.{a}!r}}" for a in attrs)
    lines.append(f"    return f'{qualname}({shown})'")
    return "\n".join(lines)


_METHODS = ("__init__", "__eq__", "__repr__")


def make_class(st: Struct, qualname: str, module: str, ns: dict) -> type:
    """A struct's class, with ``__slots__``; its methods are generated on first use.

    Until then ``__init__``, ``__eq__`` and ``__repr__`` are stand-ins that generate
    and install the real ones (keyword-only ``__init__`` with the schema defaults)
    and call them; after that the class is as if written by hand. Decoders do not
    call ``__init__`` (they fill the slots of ``object.__new__``).
    """
    attrs = tuple(f.attr for f in st.fields)
    for a in attrs:
        if iskeyword(a) or a.startswith("_"):
            raise ValueError(f"{st.name}: unusable attribute name {a!r}")
    cls: type

    def install() -> None:
        if cls.__dict__["__init__"] is not __init__:
            return  # another thread got here first
        methods: dict = {}
        code = compile(_methods_source(st, qualname), f"<{qualname} methods>", "exec")
        exec(code, ns, methods)
        for name in _METHODS:
            setattr(cls, name, methods[name])

    def __init__(self_, *args, **kwargs):
        install()
        cls.__init__(self_, *args, **kwargs)

    def __eq__(self_, other):
        install()
        return cls.__eq__(self_, other)

    def __repr__(self_):
        install()
        return cls.__repr__(self_)

    cls = type(
        st.name,
        (),
        {
            "__slots__": attrs,
            "__init__": __init__,
            "__eq__": __eq__,
            "__hash__": None,
            "__repr__": __repr__,
            "__module__": module,
            "__qualname__": qualname,
            "_schema": st,  # the spec behind the class, for tools and tests
        },
    )
    return cls
