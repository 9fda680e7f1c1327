import { Module, ShapeContext, ShapeValue } from '../../nn/module';

/**
 * Shape pass of `item`, a member of `list` (an `nn.ModuleList` that its owner indexes itself): the
 * list is entered too, so that its row in the FLOPs table holds its members' costs as in MMEngine,
 * whose per-module figures sum over name prefixes.
 */
export function shapeInList(list: Module, item: Module, x: ShapeValue, ctx: ShapeContext): ShapeValue {
  ctx.enter(list);
  try {
    return item.inferShape(x, ctx);
  } finally {
    ctx.exit(list);
  }
}
