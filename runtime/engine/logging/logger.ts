import * as fs from 'fs';

export type LogLevel = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL';
const LEVELS: Record<LogLevel, number> = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40, CRITICAL: 50 };

/** `log_level` of a config: a level name (any case) or a Python logging number. */
export function parseLogLevel(v: unknown): LogLevel {
  if (v === undefined || v === null) return 'INFO';
  if (typeof v === 'number') {
    const found = (Object.keys(LEVELS) as LogLevel[]).filter((k) => LEVELS[k] <= v).pop();
    return found ?? 'DEBUG';
  }
  const s = String(v).toUpperCase();
  if (s === 'WARN') return 'WARNING';
  if (s in LEVELS) return s as LogLevel;
  return 'INFO';
}

/** `YYYY/MM/DD HH:MM:SS`, local time, as Python's logging prints it in MMEngine's format. */
export function logTime(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** `YYYYMMDD_HHMMSS`: the name of a run's folder and log file. */
export function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}_${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** Where console lines go; the progress bar wraps it to clear and redraw itself around them. */
export type ConsoleSink = (line: string) => void;

/**
 * MMEngine's MMLogger: `2022/11/28 10:00:00 - mmengine - INFO - message` lines to the run's log
 * file and to the console (stdout, or stderr when stdout carries JSON progress), filtered by
 * `log_level` on the console; the file gets every line from INFO up (and DEBUG when asked).
 */
export class Logger {
  private fd: number | null = null;
  level: LogLevel;
  console: ConsoleSink | null;
  readonly name: string;

  constructor(options: { name?: string; level?: LogLevel; console?: ConsoleSink | null; file?: string | null } = {}) {
    this.name = options.name ?? 'mmengine';
    this.level = options.level ?? 'INFO';
    this.console = options.console === undefined ? (l) => process.stdout.write(`${l}\n`) : options.console;
    if (options.file) this.openFile(options.file);
  }

  openFile(file: string): void {
    this.close();
    this.fd = fs.openSync(file, 'a');
  }

  log(level: LogLevel, message: string): void {
    const line = `${logTime()} - ${this.name} - ${level} - ${message}`;
    if (this.fd !== null && LEVELS[level] >= Math.min(LEVELS[this.level], LEVELS.INFO)) fs.writeSync(this.fd, `${line}\n`);
    if (this.console && LEVELS[level] >= LEVELS[this.level]) this.console(line);
  }

  debug(m: string): void {
    this.log('DEBUG', m);
  }
  info(m: string): void {
    this.log('INFO', m);
  }
  warning(m: string): void {
    this.log('WARNING', m);
  }
  error(m: string): void {
    this.log('ERROR', m);
  }

  close(): void {
    if (this.fd !== null) {
      fs.closeSync(this.fd);
      this.fd = null;
    }
  }
}
