# The fine-tuning tutorial's config on a single GPU: the schedule expects a
# total batch size of 128 (8 GPUs x 16), so one GPU takes 128 per batch.
_base_ = './resnet50_finetune_cifar.py'

train_pipeline = {{_base_.train_pipeline}}
test_pipeline = {{_base_.test_pipeline}}

train_dataloader = dict(
    batch_size=128,
    dataset=dict(pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=128,
    dataset=dict(pipeline=test_pipeline),
)
test_dataloader = val_dataloader
