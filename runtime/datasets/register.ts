// Importing this module registers every dataset, wrapper, sampler and transform.
import './transforms';
import './custom';
import './builtin';
import './wrappers';
import './samplers';
