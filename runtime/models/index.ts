// Importing this module registers every model component in MODELS.
export * from './types';
export * from './backbones/base_backbone';
export * from './backbones/lenet';
export * from './backbones/resnet';
export * from './necks/gap';
export * from './necks/gem';
export * from './losses';
export * from './heads/cls_head';
export * from './heads/linear_head';
export * from './data_preprocessor';
export * from './classifiers/image';
export * from './backbones/mobilenet_v2';
export * from './utils/make_divisible';
export * from './utils/se_layer';
export * from './backbones/vision_transformer';
export * from './heads/vision_transformer_head';
