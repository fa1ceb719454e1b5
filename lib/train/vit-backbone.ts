/**
 * lib/model's CLIP ViT as the training loop's Backbone: its live variables become parameters named
 * "backbone.<OpenCLIP name>", so stage patterns (`^backbone\.`), the backbone lr and layer-wise
 * decay (`transformer.resblocks.N.`) apply to it as to any backbone.
 */
import * as tf from '@tensorflow/tfjs';
import type { Vit } from '../model/vit';
import { featureDim } from '../model/vit-config';
import type { Backbone } from './model';

export function vitBackbone(vit: Vit): Backbone {
  return {
    params: [...vit.variables].map(([name, variable]) => ({ name: `backbone.${name}`, variable })),
    outputDim: featureDim(vit.config),
    forward: (x) => vit.forward(x as tf.Tensor4D, true),
  };
}
