/**
 * Syntax tree of the Python subset that config files are written in.
 *
 * Positions: `line` and `column` are 1-based; `endLine`/`endColumn` point just past the last
 * character (exclusive end, as LSP ranges and Python's `end_col_offset` do). Columns count UTF-16
 * code units, which is what VS Code and LSP use by default.
 */
export interface Range {
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
}

export interface NodeBase extends Range {
  /** Character offsets into the source with CRLF/CR read as LF (start inclusive, end exclusive). */
  start: number;
  end: number;
}

/**
 * A text placeholder: `{{ fileDirname }}` and friends (`env: false`) or `{{$NAME:default}}`
 * (`env: true`). MMEngine substitutes these in the source text before parsing; we do the same,
 * at the token where they appear.
 */
export interface TextTemplate {
  name: string;
  env: boolean;
  /** The default of an environment placeholder (may be empty). */
  default: string;
}

export type Expr =
  | (NodeBase & { type: 'Constant'; value: null | boolean | number; isFloat?: boolean })
  | (NodeBase & { type: 'Str'; parts: StrPart[]; bytes: boolean })
  | (NodeBase & { type: 'Name'; id: string })
  /** `{{_base_.a.b}}`, `<<_base_.a[1]>>`: the value in the merged base files. */
  | (NodeBase & { type: 'BaseRef'; path: (string | number)[]; text: string })
  | (NodeBase & { type: 'Template'; template: TextTemplate; text: string })
  | (NodeBase & { type: 'Attribute'; value: Expr; attr: string; attrRange: Range })
  | (NodeBase & { type: 'Subscript'; value: Expr; index: Expr })
  | (NodeBase & { type: 'Slice'; lower: Expr | null; upper: Expr | null; step: Expr | null })
  | (NodeBase & { type: 'Call'; func: Expr; args: Arg[] })
  | (NodeBase & { type: 'BinOp'; op: string; left: Expr; right: Expr })
  | (NodeBase & { type: 'UnaryOp'; op: string; operand: Expr })
  | (NodeBase & { type: 'BoolOp'; op: 'and' | 'or'; values: Expr[] })
  | (NodeBase & { type: 'Compare'; left: Expr; ops: string[]; comparators: Expr[] })
  | (NodeBase & { type: 'IfExp'; test: Expr; body: Expr; orelse: Expr })
  | (NodeBase & { type: 'List'; elts: Expr[] })
  | (NodeBase & { type: 'Tuple'; elts: Expr[]; parenthesized: boolean })
  | (NodeBase & { type: 'Set'; elts: Expr[] })
  | (NodeBase & { type: 'Dict'; items: DictItem[] })
  | (NodeBase & { type: 'Starred'; value: Expr })
  | (NodeBase & { type: 'ListComp' | 'SetComp' | 'GeneratorExp'; elt: Expr; generators: Comprehension[] })
  | (NodeBase & { type: 'DictComp'; key: Expr; value: Expr; generators: Comprehension[] })
  | (NodeBase & { type: 'Lambda' })
  | (NodeBase & { type: 'NamedExpr'; target: Expr; value: Expr })
  | (NodeBase & { type: 'Error' });

/** A piece of a (possibly implicitly concatenated, possibly f-) string. */
export type StrPart =
  | { kind: 'text'; value: string }
  /** A base reference inside a string literal, substituted with `str()` of its value. */
  | { kind: 'ref'; path: (string | number)[]; range: Range }
  | { kind: 'template'; template: TextTemplate; range: Range }
  | { kind: 'expr'; expr: Expr; conversion: string | null; spec: StrPart[] | null; debugText: string | null };

export interface DictItem {
  /** `null` for `**mapping`. */
  key: Expr | null;
  value: Expr;
}

export interface Arg {
  /** Keyword name, `null` for positional, `*` / `**` for unpacking. */
  name: string | null;
  star: '' | '*' | '**';
  value: Expr;
  /** Range of the `name=` part when there is one. */
  nameRange?: Range;
  range: Range;
}

export interface Comprehension {
  target: Expr;
  iter: Expr;
  ifs: Expr[];
}

export type Stmt =
  | (NodeBase & { type: 'Assign'; targets: Expr[]; value: Expr })
  | (NodeBase & { type: 'AugAssign'; target: Expr; op: string; value: Expr })
  | (NodeBase & { type: 'AnnAssign'; target: Expr; value: Expr | null })
  | (NodeBase & { type: 'ExprStmt'; value: Expr })
  | (NodeBase & { type: 'Import'; names: { name: string; asname: string | null; range: Range }[] })
  | (NodeBase & { type: 'ImportFrom'; module: string; names: { name: string; asname: string | null; range: Range }[] })
  | (NodeBase & { type: 'If'; test: Expr; body: Stmt[]; orelse: Stmt[] })
  | (NodeBase & { type: 'Pass' })
  | (NodeBase & { type: 'Delete'; targets: Expr[] })
  /** A statement kind that is parsed only to be rejected (def, class, for, while, ...). */
  | (NodeBase & { type: 'Unsupported'; keyword: string });

export interface Module {
  type: 'Module';
  body: Stmt[];
}

export interface SyntaxErrorInfo extends Range {
  message: string;
}
