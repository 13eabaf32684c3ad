"""A small renderer for the Go-template subset packaging/helm/portcullis uses (helm is not
packaged for Debian): actions with {{- -}} trimming; if/else/end; range $k, $v := ...; fields
of ., $ and $var; parentheses and pipes; the functions quote, toJson, toYaml, indent, nindent,
add, default, printf. Anything else raises, so the chart cannot drift outside what is tested.

    render_chart(chart_dir, values_overrides=None) -> {template name: rendered text}
"""

import json
import os
import re

import yaml

ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)
TOKEN = re.compile(r'\s*(\(|\)|\||"(?:[^"\\]|\\.)*"|-?\d+|\$?[A-Za-z0-9_.$]*|:=|,)')


class TemplateError(Exception):
    pass


def deep_merge(base, over):
    out = dict(base)
    for k, v in (over or {}).items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) \
            else v
    return out


def _lex(text):
    """Splits into ('text', s) and ('action', expr) with whitespace trimming applied."""
    parts, pos = [], 0
    for m in ACTION.finditer(text):
        parts.append(["text", text[pos:m.start()]])
        if m.group(1):
            parts[-1][1] = parts[-1][1].rstrip()
        parts.append(["action", m.group(2), bool(m.group(3))])
        pos = m.end()
    parts.append(["text", text[pos:]])
    for i, p in enumerate(parts):
        if p[0] == "action" and p[2] and i + 1 < len(parts):
            parts[i + 1][1] = parts[i + 1][1].lstrip()
    return [(p[0], p[1]) for p in parts if p[0] == "action" or p[1]]


def _parse(items, i=0, stop=("end",)):
    """-> (nodes, index of the stopping action, its keyword)."""
    nodes = []
    while i < len(items):
        kind, s = items[i]
        if kind == "text":
            nodes.append(("text", s))
            i += 1
            continue
        if s.startswith("/*"):
            i += 1
            continue
        word = s.split(None, 1)[0] if s else ""
        if word in stop:
            return nodes, i, word
        if word == "if":
            then, j, kw = _parse(items, i + 1, ("else", "end"))
            other = []
            if kw == "else":
                other, j, _ = _parse(items, j + 1, ("end",))
            nodes.append(("if", s[2:].strip(), then, other))
            i = j + 1
        elif word == "range":
            m = re.match(r"range\s+(\$\w+)\s*,\s*(\$\w+)\s*:=\s*(.+)$", s, re.S)
            if not m:
                raise TemplateError(f"unsupported range: {s}")
            body, j, _ = _parse(items, i + 1, ("end",))
            nodes.append(("range", m.group(1), m.group(2), m.group(3), body))
            i = j + 1
        elif word in ("else", "end", "define", "template", "with", "block", "include"):
            raise TemplateError(f"unsupported action: {s}")
        else:
            nodes.append(("expr", s))
            i += 1
    return nodes, i, None


def _tokens(expr):
    toks, pos = [], 0
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            if expr[pos:].strip() == "":
                break
            raise TemplateError(f"cannot parse {expr!r} at {pos}")
        if m.group(1):
            toks.append(m.group(1))
        pos = m.end()
    return toks


def _truthy(v):
    return not (v is None or v is False or v == 0 or v == "" or v == [] or v == {})


def _to_str(v):
    if v is None:
        return ""
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        raise TemplateError(f"rendering a collection without toYaml/toJson: {v!r}")
    return str(v)


def _indent(n, s):
    return "\n".join((" " * n + line) if line else line for line in _to_str(s).split("\n"))


def _to_yaml(v):
    if v in ({}, []):
        return "{}" if v == {} else "[]"
    return yaml.safe_dump(v, default_flow_style=False, sort_keys=True).rstrip("\n")


def _printf(fmt, *args):
    return re.sub(r"%[sdv]", "{}", fmt).format(*args)


FUNCS = {
    "quote": lambda v: json.dumps(_to_str(v)),
    "toJson": lambda v: json.dumps(v, separators=(",", ":")),
    "toYaml": _to_yaml,
    "indent": _indent,
    "nindent": lambda n, s: "\n" + _indent(n, s),
    "add": lambda *a: sum(int(x) for x in a),
    "default": lambda d, v=None: v if _truthy(v) else d,
    "printf": _printf,
}


class _Ctx:
    def __init__(self, root, dot, vars_):
        self.root, self.dot, self.vars = root, dot, vars_


def _field(base, path):
    for name in [p for p in path.split(".") if p]:
        base = base.get(name) if isinstance(base, dict) else None
    return base


def _operand(tok, ctx):
    if tok.startswith('"'):
        return json.loads(tok)
    if re.fullmatch(r"-?\d+", tok):
        return int(tok)
    if tok == ".":
        return ctx.dot
    if tok.startswith("."):
        return _field(ctx.dot, tok)
    if tok == "$" or tok.startswith("$."):
        return _field(ctx.root, tok[1:])
    if tok.startswith("$"):
        name, _, rest = tok.partition(".")
        if name not in ctx.vars:
            raise TemplateError(f"undefined variable {name}")
        return _field(ctx.vars[name], rest)
    if tok in ("true", "false"):
        return tok == "true"
    raise TemplateError(f"unknown operand {tok!r}")


def _pipeline(toks, ctx):
    """Evaluates a token list: commands separated by | (at depth 0)."""
    commands, cur, depth = [], [], 0
    for t in toks:
        depth += t == "("
        depth -= t == ")"
        if t == "|" and depth == 0:
            commands.append(cur)
            cur = []
        else:
            cur.append(t)
    commands.append(cur)
    value, piped = None, False
    for cmd in commands:
        args, i = [], 0
        while i < len(cmd):
            if cmd[i] == "(":
                depth, j = 1, i + 1
                while depth:
                    depth += cmd[j] == "("
                    depth -= cmd[j] == ")"
                    j += 1
                args.append(("val", _pipeline(cmd[i + 1:j - 1], ctx)))
                i = j
            else:
                args.append(("tok", cmd[i]))
                i += 1
        if args and args[0][0] == "tok" and args[0][1] in FUNCS:
            vals = [v if k == "val" else _operand(v, ctx) for k, v in args[1:]]
            if piped:
                vals.append(value)
            value = FUNCS[args[0][1]](*vals)
        elif len(args) == 1 and not piped:
            k, v = args[0]
            value = v if k == "val" else _operand(v, ctx)
        else:
            raise TemplateError(f"unsupported command {cmd}")
        piped = True
    return value


def _eval(nodes, ctx, out):
    for node in nodes:
        kind = node[0]
        if kind == "text":
            out.append(node[1])
        elif kind == "expr":
            out.append(_to_str(_pipeline(_tokens(node[1]), ctx)))
        elif kind == "if":
            branch = node[2] if _truthy(_pipeline(_tokens(node[1]), ctx)) else node[3]
            _eval(branch, ctx, out)
        elif kind == "range":
            _, kvar, vvar, expr, body = node
            coll = _pipeline(_tokens(expr), ctx)
            items = sorted(coll.items()) if isinstance(coll, dict) else \
                list(enumerate(coll or []))
            for k, v in items:
                _eval(body, _Ctx(ctx.root, v, {**ctx.vars, kvar: k, vvar: v}), out)


def render(text, root):
    nodes, _, kw = _parse(_lex(text))
    if kw is not None:
        raise TemplateError(f"unexpected {{{{ {kw} }}}}")
    out = []
    _eval(nodes, _Ctx(root, root, {}), out)
    return "".join(out)


def render_chart(chart, overrides=None, release="gw", namespace="edge"):
    with open(os.path.join(chart, "values.yaml"), encoding="utf-8") as f:
        values = deep_merge(yaml.safe_load(f) or {}, overrides)
    with open(os.path.join(chart, "Chart.yaml"), encoding="utf-8") as f:
        chart_meta = yaml.safe_load(f)
    root = {"Values": values, "Release": {"Name": release, "Namespace": namespace},
            "Chart": {"Name": chart_meta["name"], "Version": chart_meta["version"],
                      "AppVersion": chart_meta.get("appVersion", "")}}
    out = {}
    tdir = os.path.join(chart, "templates")
    for name in sorted(os.listdir(tdir)):
        if name.endswith(".yaml"):
            with open(os.path.join(tdir, name), encoding="utf-8") as f:
                out[name] = render(f.read(), root)
    return out
