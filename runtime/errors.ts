/** Where in a file a problem is. Lines and columns are 1-based, as editors and Python report them. */
export interface SourceLocation {
  file?: string;
  line?: number;
  column?: number;
  endLine?: number;
  endColumn?: number;
}

/**
 * An error caused by the user's input (a config, a file, an argument), as opposed to a bug.
 * The CLI prints these without a stack trace; the language server turns them into diagnostics.
 * The message should say what was expected and what to do.
 */
export class MmclsError extends Error {
  readonly location: SourceLocation;
  /** A short stable identifier (`config.syntax`, `registry.unknown-arg`, ...) for tools. */
  readonly code: string;

  constructor(message: string, options: { code?: string; location?: SourceLocation; cause?: unknown } = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'MmclsError';
    this.code = options.code ?? 'error';
    this.location = options.location ?? {};
  }

  /** `file:line:column: message`, the form compilers use, so terminals and editors can link it. */
  format(): string {
    const { file, line, column } = this.location;
    const where = [file, line, line !== undefined ? column : undefined].filter((x) => x !== undefined).join(':');
    return where ? `${where}: ${this.message}` : this.message;
  }
}

export function isMmclsError(e: unknown): e is MmclsError {
  return e instanceof MmclsError;
}
