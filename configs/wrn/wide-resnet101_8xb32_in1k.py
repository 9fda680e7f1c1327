_base_ = ['wide-resnet50_8xb32_in1k.py']

# model settings
model = dict(backbone=dict(depth=101))
