# The inheritance example of the config tutorial: ResNet-50 with CutMix,
# 300 epochs and a different data root.
_base_ = './resnet50_8xb32_in1k.py'

# use CutMix batch augmentation on top of the base model
model = dict(
    train_cfg=dict(
        augments=dict(type='CutMix', alpha=1.0)
    )
)

# train for more epochs: 300 epochs, validate every 10 epochs
train_cfg = dict(max_epochs=300, val_interval=10)
# the learning rate decays at other epochs too; the base scheduler is a
# MultiStepLR, whose argument is `milestones` (the tutorial text writes
# `step`, which MultiStepLR does not accept)
param_scheduler = dict(milestones=[150, 200, 250])

# use your own dataset folder
train_dataloader = dict(
    dataset=dict(data_root='mydata/imagenet/train'),
)
val_dataloader = dict(
    batch_size=64,  # no back-propagation in validation: a larger batch fits
    dataset=dict(data_root='mydata/imagenet/val'),
)
test_dataloader = dict(
    batch_size=64,  # no back-propagation in testing: a larger batch fits
    dataset=dict(data_root='mydata/imagenet/val'),
)
