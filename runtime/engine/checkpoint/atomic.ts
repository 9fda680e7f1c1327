import * as fs from 'fs';
import * as path from 'path';
import { randomBytes } from 'crypto';

/**
 * Write a file so that a crash at any moment leaves either the old file or the complete new one
 * under `target`, never a part: the bytes go to a temporary file in the same directory (rename is
 * only atomic within one file system), which is fsynced and then renamed over the target; the
 * directory is fsynced too so that the rename itself survives a power cut. If anything fails, the
 * temporary file is removed and the error rethrown.
 */
export function writeFileAtomic(target: string, write: (fd: number) => void): void {
  const dir = path.dirname(path.resolve(target));
  const tmp = path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | undefined = fs.openSync(tmp, 'wx', 0o644);
  try {
    write(fd);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, target);
  } catch (e) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // already failing; the original error is the one to report
      }
    }
    try {
      fs.unlinkSync(tmp);
    } catch {
      // the temporary file may not exist any more
    }
    throw e;
  }
  syncDirectory(dir);
}

function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory; the rename is still atomic there.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Write all of `bytes` at the current position (writeSync may write less than asked). */
export function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  // Large buffers are written in pieces: some platforms cap a single write at 2 GB.
  const CHUNK = 64 * 1024 * 1024;
  while (done < bytes.length) {
    done += fs.writeSync(fd, bytes, done, Math.min(CHUNK, bytes.length - done));
  }
}
