import * as fs from 'fs';
import * as path from 'path';

/**
 * MMEngine's LocalVisBackend as the runner uses it: `vis_data/scalars.json` with one JSON object
 * per logged step (`{"lr": ..., "loss": ..., "epoch": 1, "iter": 10, "step": 10}`), and the dumped
 * config as `vis_data/config.py`.
 */
export class LocalScalarWriter {
  readonly file: string;

  constructor(readonly saveDir: string) {
    fs.mkdirSync(saveDir, { recursive: true });
    this.file = path.join(saveDir, 'scalars.json');
  }

  addScalars(scalars: Record<string, number | string>, step: number): void {
    const line: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(scalars)) line[k] = typeof v === 'number' && !Number.isFinite(v) ? String(v) : v;
    line.step = step;
    fs.appendFileSync(this.file, `${JSON.stringify(line)}\n`);
  }

  addConfig(text: string): void {
    fs.writeFileSync(path.join(this.saveDir, 'config.py'), text);
  }
}
