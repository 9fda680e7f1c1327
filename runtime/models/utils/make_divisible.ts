/** MMCls's `make_divisible`: rounds `value` to a multiple of `divisor`, never below `minRatio * value`. */
export function makeDivisible(value: number, divisor: number, minValue?: number | null, minRatio = 0.9): number {
  const min = minValue ?? divisor;
  let v = Math.max(min, Math.floor(Math.trunc(value + divisor / 2) / divisor) * divisor);
  if (v < minRatio * value) v += divisor;
  return v;
}
