import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { toNumbers, TensorData } from '../../../runtime/engine/checkpoint';

export const FIX = path.join(__dirname, '..', '..', 'fixtures', 'checkpoint');

/** Written by make_fixtures.py from the tensors PyTorch itself holds. */
export interface ExpectedTensor {
  dtype: string;
  shape: number[];
  sum: number | string;
  /** Sum of value i (row-major) times (i % 7 + 1): checks the order too. */
  wsum: number | string;
  first: Array<number | string>;
}
export const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'expected.json'), 'utf8')) as {
  marker: string;
  state_dict: Record<string, ExpectedTensor>;
  optimizer: { momentum_buffer_0: ExpectedTensor; momentum_buffer_1: ExpectedTensor; param_groups: unknown[] };
  meta: Record<string, unknown>;
};

const TORCH_DTYPE: Record<string, string> = {
  float32: 'F32', float16: 'F16', bfloat16: 'BF16', float64: 'F64', int64: 'I64', int32: 'I32', int16: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};

export function assertTensor(name: string, t: TensorData | undefined, e: ExpectedTensor): void {
  assert.ok(t, `${name} is missing`);
  assert.equal(t.dtype, TORCH_DTYPE[e.dtype], `${name} dtype`);
  assert.deepEqual(t.shape, e.shape, `${name} shape`);
  if (t.dtype === 'I64') {
    const vals = Array.from(t.data as BigInt64Array);
    assert.equal(vals.reduce((a, b) => a + b, 0n).toString(), e.sum, `${name} sum`);
    assert.equal(vals.reduce((a, b, i) => a + b * BigInt((i % 7) + 1), 0n).toString(), e.wsum, `${name} weighted sum`);
    assert.deepEqual(vals.slice(0, 6).map(String), e.first, `${name} values`);
    return;
  }
  const vals = toNumbers(t);
  const close = (got: number, want: number, what: string): void =>
    assert.ok(Math.abs(got - want) <= 1e-9 * Math.max(1, Math.abs(want)), `${name} ${what} ${got} != ${want}`);
  close(vals.reduce((a, b) => a + b, 0), e.sum as number, 'sum');
  close(vals.reduce((a, b, i) => a + b * ((i % 7) + 1), 0), e.wsum as number, 'weighted sum');
  // F32/F16/BF16 values widened to float64 are exact, so the first values must match exactly.
  assert.deepEqual(vals.slice(0, 6), e.first, `${name} values`);
}

