# The 0.x name of resnet50_8xb16_cifar100.py, which the manual's scheduler
# visualisation example still uses.
_base_ = './resnet50_8xb16_cifar100.py'
