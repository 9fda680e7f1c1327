/**
 * Plain result shapes of the language service (no LSP library types): positions are 0-based
 * lines and UTF-16 columns, as LSP counts them, so the protocol layer only copies fields.
 */

export interface Position {
  line: number;
  character: number;
}

export interface Span {
  start: Position;
  end: Position;
}

export interface FileLocation {
  file: string;
  span: Span;
}

export type Severity = 'error' | 'warning' | 'information' | 'hint';

export interface ServiceDiagnostic {
  span: Span;
  severity: Severity;
  /** Stable identifier (`config.base-not-found`, `registry.unknown-arg`, `mmcls.num-classes-mismatch`, ...). */
  code: string;
  message: string;
  /** Other places that explain the finding (the base file that set a value). */
  related?: { location: FileLocation; message: string }[];
}

export type CompletionKind = 'property' | 'class' | 'value' | 'enum' | 'file' | 'folder' | 'keyword' | 'variable';

export interface ServiceCompletion {
  label: string;
  kind: CompletionKind;
  detail?: string;
  /** Markdown. */
  documentation?: string;
  insertText?: string;
  /** Text replaced by the completion (defaults to the word before the cursor). */
  replace?: Span;
  sortText?: string;
  /** Filter on this text instead of the label. */
  filterText?: string;
}

export interface ServiceHover {
  /** Markdown. */
  markdown: string;
  span?: Span;
}

export interface ServiceCodeLens {
  span: Span;
  kind: 'usedBy' | 'flops' | 'lr';
  /** Set when resolved. */
  title?: string;
  /** usedBy: the configs that inherit the file. */
  files?: string[];
  /** flops: the get_flops summary and per-module table (Markdown-free text). */
  table?: string;
  /** What to resolve a lazy lens with. */
  file: string;
}

export interface ServiceInlayHint {
  position: Position;
  label: string;
  tooltip?: string;
}

export interface ServiceSymbol {
  name: string;
  detail?: string;
  kind: 'object' | 'array' | 'property' | 'module';
  span: Span;
  selectionSpan: Span;
  children: ServiceSymbol[];
}

export interface ServiceFold {
  startLine: number;
  endLine: number;
}

/**
 * The semantic-token legend. Standard types, so that every editor has a colour for them; the
 * modifiers say what mmcls means, and the extension's manifest (`semanticTokenScopes`) maps each
 * `type.modifier` pair to the scope the grammar injection (syntaxes/) gives the same text, so that
 * VS Code colours a range the same with semantic highlighting on or off.
 */
export const SEMANTIC_TOKEN_TYPES = ['class', 'keyword', 'namespace', 'property'] as const;
export const SEMANTIC_TOKEN_MODIFIERS = ['registryType', 'baseReference', 'basePath'] as const;

export type SemanticTokenType = (typeof SEMANTIC_TOKEN_TYPES)[number];
export type SemanticTokenModifier = (typeof SEMANTIC_TOKEN_MODIFIERS)[number];

/**
 * `class.registryType`: the name in `type='ResNet'` (without the quotes);
 * `keyword.baseReference` / `property.baseReference`: `_base_` and the key path of a
 * `{{_base_.model.head}}` reference; `namespace.basePath`: a path string of the `_base_` list.
 */
export interface ServiceSemanticToken {
  line: number;
  character: number;
  length: number;
  type: SemanticTokenType;
  modifier: SemanticTokenModifier;
}
