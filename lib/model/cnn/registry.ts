/**
 * The packaged CNNs by name: offline pretrained CNNs from the npm package `nsfwjs`, of which only
 * the ImageNet-initialised lower parts are kept (the upper, NSFW-tuned layers retrieve poorly).
 * Each one is a packaged-cnn file in lib/model/model_configs/.
 */
import { configAs, loadModelConfig, modelConfigNames, type FieldType } from '../model-configs';
import type { Preprocess } from '../../core/preprocess';

export interface PackagedCnnSpec {
  name: string;
  description: string;
  /** Folder under nsfwjs/dist/models. */
  packageModel: 'mobilenet_v2_mid' | 'inception_v3';
  /** How the package stores it; the cache is always a graph model. */
  packageFormat: 'graph-model' | 'layers-model';
  /** Graph models: the node whose output is the feature vector. Layers models: the layer that is globally average-pooled. */
  featureNode: string;
  featureDim: number;
  preprocess: Preprocess;
  /** Fine-tuning cuts: blockInputs[k-1] is the node feeding the last k blocks (a single tensor; everything before it stays frozen). */
  blockInputs: string[];
  /** Graph models: generalized-mean (GeM) pooling of this node's map, mean(max(x, eps)^p)^(1/p) over H and W, in place of featureNode. */
  gem?: { mapNode: string; p: number };
}

const CNN_FIELDS: Record<keyof PackagedCnnSpec, FieldType> = {
  name: 'string',
  description: 'string',
  packageModel: 'string',
  packageFormat: 'string',
  featureNode: 'string',
  featureDim: 'number',
  preprocess: 'object',
  blockInputs: 'object',
  gem: 'object?',
};

export const PACKAGED_CNNS: Record<string, PackagedCnnSpec> = Object.fromEntries(
  modelConfigNames()
    .map(loadModelConfig)
    .filter((f) => f.kind === 'packaged-cnn')
    .map((f) => [f.name, configAs<PackagedCnnSpec>(f, CNN_FIELDS)]),
);
