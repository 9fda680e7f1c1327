# LeNet-5 on Fashion-MNIST: the MNIST recipe with Fashion-MNIST's own data
# and its own normalisation (mean and std of the training images, 0-255).
_base_ = './lenet5_mnist.py'

# dataset settings
dataset_type = 'FashionMNIST'
data_preprocessor = dict(mean=[72.94], std=[90.02], num_classes=10)

common_data_cfg = dict(type=dataset_type, data_prefix='data/fashion-mnist')

train_dataloader = dict(
    batch_size=128,
    dataset=dict(type=dataset_type, data_prefix='data/fashion-mnist'),
)
val_dataloader = dict(
    batch_size=128,
    dataset=dict(type=dataset_type, data_prefix='data/fashion-mnist'),
)
test_dataloader = val_dataloader

# schedule settings: SGD with lr 0.01 for 5 epochs
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))
train_cfg = dict(by_epoch=True, max_epochs=5, val_interval=1)
