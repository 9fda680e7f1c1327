# The `_delete_` example of the config tutorial: switch the base's
# MultiStepLR to cosine annealing. Without `_delete_=True` the base's
# `milestones` and `gamma` would stay in the merged dict and
# CosineAnnealingLR would reject them.
_base_ = '../../configs/resnet/resnet50_8xb32_in1k.py'

# learning rate policy
param_scheduler = dict(type='CosineAnnealingLR', by_epoch=True, _delete_=True)
