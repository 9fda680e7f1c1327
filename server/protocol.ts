/**
 * Custom requests of the mmcls config language server, typed once for the server and its clients
 * (the VS Code extension imports this module; other clients send the same JSON).
 *
 * `mmcls/mergedConfig` — params `{ uri }` (a config document, open or on disk); result: the whole
 * config after `_base_` inheritance, as Python text (what `mmcls print-config` prints, from the
 * editor buffers as they are now), and for each line of that text where its value was written.
 * Clients re-request it on `textDocument/didChange` (the server answers from the current buffers).
 * `text` is null and `error` says why when the config cannot be merged (a syntax error, a missing
 * base); `lastGood` is then true when `text` is from the last version that merged.
 *
 * `mmcls.showFlopsTable` — the command of the FLOPs code lens; its one argument is
 * `FlopsTableArgs` (the per-module table as `mmcls flops` prints it).
 */
import { RequestType } from 'vscode-languageserver-protocol';

export const MERGED_CONFIG_METHOD = 'mmcls/mergedConfig';

export interface MergedConfigParams {
  uri: string;
}

/** Where the value on one line of the merged text was written. */
export interface LineOrigin {
  /** Dotted key path (`model.backbone.depth`, `train_pipeline.1.scale`). */
  keyPath: string;
  uri: string;
  /** 0-based line and UTF-16 column in that file. */
  line: number;
  character: number;
  /** Earlier values this one replaced, oldest first (`was 1000 in ../_base_/models/resnet50.py`). */
  overrode: { uri: string; line: number; value: string }[];
}

export interface MergedConfigResult {
  uri: string;
  text: string | null;
  /** One entry per line of `text` (null for lines that only continue a value). */
  origins: (LineOrigin | null)[];
  /** Files read, the config first, then its bases depth-first. */
  files: string[];
  error?: string;
  lastGood?: boolean;
}

export const MergedConfigRequest = new RequestType<MergedConfigParams, MergedConfigResult, void>(MERGED_CONFIG_METHOD);

export const SHOW_FLOPS_TABLE_COMMAND = 'mmcls.showFlopsTable';

export interface FlopsTableArgs {
  uri: string;
  title: string;
  /** The summary and per-module table, plain text. */
  table: string;
}

/**
 * Settings under `mmcls` the server reads: initializationOptions, workspace/configuration and
 * didChangeConfiguration (`{ mmcls: ServerSettings }`), nested as VS Code returns them.
 */
export interface ServerSettings {
  /** Globs (relative to a workspace folder) of further config files, e.g. `experiments/**\/*.py`. */
  configGlobs?: string[];
  /**
   * `mmcls.semanticHighlighting.enable` (default true): false makes the server answer semantic-token
   * requests with null, leaving highlighting to the grammar and to other providers.
   */
  semanticHighlighting?: { enable?: boolean };
}
