/**
 * Learning-rate schedules as pure functions of the optimizer step: factor(step) in [0, 1] that
 * multiplies every group's base lr. Linear warmup then:
 *   linear     decay to `minFactor` at `totalSteps` (the reference notebook's gain of +0.01),
 *   cosine     half-cosine to `minFactor`,
 *   multistep  x `gamma` at each milestone,
 *   constant.
 */

export type ScheduleKind = 'linear' | 'cosine' | 'multistep' | 'constant';

export interface ScheduleConfig {
  kind: ScheduleKind;
  totalSteps: number;
  warmupSteps?: number;
  /** Floor of the decay, as a fraction of the base lr. */
  minFactor?: number;
  /** multistep: steps at which the lr is multiplied by gamma. */
  milestones?: readonly number[];
  gamma?: number;
}

export type Schedule = (step: number) => number;

export function makeSchedule(cfg: ScheduleConfig): Schedule {
  const warmup = cfg.warmupSteps ?? 0;
  const floor = cfg.minFactor ?? 0;
  const total = cfg.totalSteps;
  if (!Number.isInteger(total) || total < 1) throw new Error(`schedule: totalSteps must be a positive integer, got ${total}`);
  if (warmup < 0 || warmup > total) throw new Error(`schedule: warmupSteps ${warmup} must be in [0, totalSteps=${total}]`);
  const milestones = [...(cfg.milestones ?? [])].sort((a, b) => a - b);
  const gamma = cfg.gamma ?? 0.1;
  // progress through the decay phase, 0 at the end of warmup, 1 at totalSteps
  const progress = (step: number) => (total === warmup ? 1 : Math.min(1, Math.max(0, (step - warmup) / (total - warmup))));
  const decay: Record<ScheduleKind, (step: number) => number> = {
    linear: (s) => floor + (1 - floor) * (1 - progress(s)),
    cosine: (s) => floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * progress(s))),
    multistep: (s) => gamma ** milestones.filter((m) => s >= m).length,
    constant: () => 1,
  };
  const f = decay[cfg.kind];
  if (!f) throw new Error(`schedule: unknown kind "${cfg.kind}" (linear, cosine, multistep, constant)`);
  // step is 0-based: the first update of a warmup runs at 1/warmup of the lr, never at 0
  return (step) => (step < warmup ? (step + 1) / warmup : f(step));
}
