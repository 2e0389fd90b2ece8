/** EndpointSlices: addresses and ports checked before node agents turn them into rules. */
import { resourceType } from '../../resources.js';
import { endpointSliceProblems, refuse } from '../../validation.js';
import type { Strategy } from '../strategy.js';

const resource = resourceType('discovery.k8s.io', 'v1', 'EndpointSlice', 'endpointslices', true);

export const endpointSlices: Strategy = {
  resource,
  validate: (o) => refuse(resource, o, endpointSliceProblems(o)),
};
