/**
 * Where the optimisation, scheduling and evaluation code reports warnings and information. The
 * runner points this at its logger; by default warnings go to stderr (never stdout, which may carry
 * JSON progress lines) and information is dropped.
 */
export type EngineLogLevel = 'debug' | 'info' | 'warning';
export type EngineLogger = (level: EngineLogLevel, message: string) => void;

const defaultLogger: EngineLogger = (level, message) => {
  if (level === 'warning') process.stderr.write(`WARNING: ${message}\n`);
};

let current: EngineLogger = defaultLogger;

/** Sets the logger (returns the previous one, so tests can restore it). Pass null for the default. */
export function setEngineLogger(logger: EngineLogger | null): EngineLogger {
  const prev = current;
  current = logger ?? defaultLogger;
  return prev;
}

export function engineLog(level: EngineLogLevel, message: string): void {
  current(level, message);
}
