import { strict as assert } from 'assert';
import {
  bfloat16ToFloat,
  floatToBfloat16,
  floatToHalf,
  fromTorchEntry,
  halfToFloat,
  toFloat32,
  toTorchEntry,
} from '../../../runtime/engine/checkpoint';

describe('engine/checkpoint: tensor values', () => {
  it('decodes and encodes every half-precision pattern exactly', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = halfToFloat(h);
      if (Number.isNaN(v)) {
        assert.ok((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0);
        continue;
      }
      assert.equal(floatToHalf(v), h, `0x${h.toString(16)}`);
    }
  });

  it('decodes half precision by the IEEE formula and rounds to nearest even', () => {
    assert.equal(halfToFloat(0x3c00), 1);
    assert.equal(halfToFloat(0xc000), -2);
    assert.equal(halfToFloat(0x7bff), 65504);
    assert.equal(halfToFloat(0x0001), 2 ** -24);
    assert.equal(halfToFloat(0x7c00), Infinity);
    assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00, 'tie goes to the even mantissa');
    assert.equal(floatToHalf(1 + 3 * 2 ** -11), 0x3c02, 'tie goes to the even mantissa (up)');
    assert.equal(floatToHalf(65519), 0x7bff);
    assert.equal(floatToHalf(65520), 0x7c00, 'overflows to infinity');
    assert.equal(floatToHalf(2 ** -25), 0x0000, 'half of the smallest subnormal ties to zero');
    assert.equal(floatToHalf(3 * 2 ** -25), 0x0002);
    assert.equal(floatToHalf(-0), 0x8000);
    assert.equal(floatToHalf(NaN) & 0x7e00, 0x7e00);
  });

  it('decodes and encodes bfloat16 (the upper half of a float32, rounded to nearest even)', () => {
    for (let h = 0; h < 0x10000; h += 7) {
      const v = bfloat16ToFloat(h);
      if (!Number.isNaN(v)) assert.equal(floatToBfloat16(v), h);
    }
    assert.equal(bfloat16ToFloat(0x3f80), 1);
    assert.equal(floatToBfloat16(1 + 2 ** -8), 0x3f80, 'tie to even');
    assert.equal(floatToBfloat16(1 + 3 * 2 ** -8), 0x3f82);
    assert.deepEqual(Array.from(toFloat32({ dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0xc040]) })), [1, -3]);
  });

  it("converts runtime/nn's state-dict entries (PyTorch dtype names) to checkpoint tensors and back", () => {
    const nbt = fromTorchEntry({ dtype: 'int64', shape: [], data: new Int32Array([7]) });
    assert.deepEqual(nbt, { dtype: 'I64', shape: [], data: new BigInt64Array([7n]) });
    const w = new Float32Array([1, 2]);
    const f = fromTorchEntry({ shape: [2], data: w });
    assert.equal(f.dtype, 'F32');
    assert.equal(f.data, w, 'float32 data is shared, not copied');
    assert.deepEqual(fromTorchEntry({ dtype: 'float16', shape: [2], data: [1, -2] }).data, new Uint16Array([0x3c00, 0xc000]));
    assert.deepEqual(fromTorchEntry({ dtype: 'bool', shape: [2], data: [1, 0] }), { dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) });
    assert.throws(() => fromTorchEntry({ dtype: 'complex64', shape: [1], data: [1] }, 'w'), /w: unknown dtype 'complex64'/);
    assert.throws(() => fromTorchEntry({ dtype: 'float32', shape: [3], data: [1] }, 'w'), /w: 1 values for shape \[3\]/);

    assert.deepEqual(toTorchEntry({ dtype: 'F16', shape: [2], data: new Uint16Array([0x3c00, 0xc000]) }), { dtype: 'float16', shape: [2], data: new Float32Array([1, -2]) });
    assert.deepEqual(toTorchEntry({ dtype: 'I8', shape: [1], data: new Int8Array([-3]) }), { dtype: 'int8', shape: [1], data: new Int32Array([-3]) });
    assert.deepEqual(toTorchEntry(nbt), { dtype: 'int64', shape: [], data: new BigInt64Array([7n]) });
  });
});
