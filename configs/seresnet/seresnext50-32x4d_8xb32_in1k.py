_base_ = [
    '../_base_/models/seresnext50_32x4d.py', '../_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/imagenet_bs256_140e.py',
    '../_base_/default_runtime.py'
]
