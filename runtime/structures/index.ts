export { ClsDataSample, ClsDataSampleData, LabelData, LabelValue, formatLabel } from './cls_data_sample';
