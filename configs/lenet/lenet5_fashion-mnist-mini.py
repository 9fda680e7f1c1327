# A quick demonstration run: LeNet-5 on the small Fashion-MNIST subset that
# ships with the repository (2000 training and 500 test images, same file
# format as the full data set). Everything else comes from
# lenet5_fashion-mnist.py.
_base_ = './lenet5_fashion-mnist.py'

data_root = 'data/fashion-mnist-mini'
common_data_cfg = dict(data_prefix=data_root)

train_dataloader = dict(dataset=dict(data_prefix=data_root))
val_dataloader = dict(dataset=dict(data_prefix=data_root))
test_dataloader = val_dataloader

# 2000 images make 16 iterations per epoch: log more often than every 150
default_hooks = dict(logger=dict(type='LoggerHook', interval=5))
