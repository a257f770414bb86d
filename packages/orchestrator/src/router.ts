import { InvalidRequestError } from '@muai/core';

/** Why the router chose a workflow. */
export interface RoutingDecision {
  workflow: string;
  /** Confidence of the chosen rule, in [0, 1]. */
  confidence: number;
  /** One sentence for people: which rule matched, or why the default was used. */
  reason: string;
  /** The rule's own pick, before the confidence threshold was applied. */
  matched: { workflow: string; confidence: number; rule: string };
}

/** A routing rule: returns a workflow and confidence when it applies to the query. */
export interface RoutingRule {
  name: string;
  match(query: string): { workflow: string; confidence: number } | undefined;
}

export interface RouterOptions {
  /** Workflow used when the best confidence is below the threshold (`router.default_workflow`). Default `search_qa`. */
  defaultWorkflow?: string;
  /** Minimum confidence to trust a rule (`router.confidence_threshold`). Default 0.5, as in @muai/config. */
  confidenceThreshold?: number;
  /** Extra rules, tried before the built-in ones; the highest confidence wins (the first on ties). */
  rules?: readonly RoutingRule[];
  /** Drop the built-in rules (used when config gives `router.rules`). Default false. */
  replaceBuiltInRules?: boolean;
}

/** The `router` section of system.yaml. */
export type RouterConfigInput = {
  default_workflow?: string | undefined;
  confidence_threshold?: number | undefined;
  /** Explicit rules; when given they replace the built-in ones (as @muai/config documents). */
  rules?: readonly RouterRuleInput[] | undefined;
  [key: string]: unknown;
};

/** One `router.rules[]` entry: keywords or a pattern selecting a workflow; higher priority first. */
export type RouterRuleInput = {
  workflow: string;
  keywords?: readonly string[] | undefined;
  pattern?: string | undefined;
  priority?: number | undefined;
};

/** Turns `router.rules` entries into rules: a match gives confidence 0.9, lowered slightly for lower priorities so that order holds. */
export function rulesFromConfig(entries: readonly RouterRuleInput[]): RoutingRule[] {
  const sorted = entries.map((entry, position) => ({ entry, position })).sort((a, b) => (b.entry.priority ?? 0) - (a.entry.priority ?? 0) || a.position - b.position);
  return sorted.map(({ entry }, rank) => {
    const pattern = entry.pattern === undefined ? undefined : new RegExp(entry.pattern, 'i');
    const keywords = (entry.keywords ?? []).map((keyword) => keyword.toLowerCase());
    const confidence = Math.max(0.5, 0.9 - rank * 0.001);
    return {
      name: `router.rules[${entry.workflow}${entry.pattern ? ` /${entry.pattern}/` : ''}${keywords.length ? ` ${keywords.join('|')}` : ''}]`,
      match(query: string) {
        const hit = (pattern?.test(query) ?? false) || keywords.some((keyword) => new RegExp(`(^|[^\\p{L}\\p{N}])${keyword.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^\\p{L}\\p{N}])`, 'u').test(query));
        return hit ? { workflow: entry.workflow, confidence } : undefined;
      },
    };
  });
}

const QUESTION_WORDS = /^(what|who|whom|whose|how|why|when|where|which|is|are|was|were|do|does|did|can|could|should|would|will|explain|define|describe|tell me about)\b/;

/** The built-in rules, highest specificity first. */
export const DEFAULT_ROUTING_RULES: readonly RoutingRule[] = [
  {
    name: 'summarize keyword',
    match(query) {
      if (/^\s*(summari[sz]e|tl;?dr|sum up)\b/.test(query)) return { workflow: 'summarize', confidence: 0.95 };
      if (/\b(summari[sz]e|summary|tl;?dr|sum up|condense)\b/.test(query)) return { workflow: 'summarize', confidence: 0.85 };
      return undefined;
    },
  },
  {
    name: 'definition question',
    match(query) {
      return /^\s*(what|who) (is|are|was|were)\b/.test(query) ? { workflow: 'search_qa', confidence: 0.9 } : undefined;
    },
  },
  {
    name: 'question word',
    match(query) {
      return QUESTION_WORDS.test(query.trim()) ? { workflow: 'search_qa', confidence: 0.8 } : undefined;
    },
  },
  {
    name: 'question mark',
    match(query) {
      return query.trim().endsWith('?') ? { workflow: 'search_qa', confidence: 0.75 } : undefined;
    },
  },
  {
    name: 'small talk',
    match(query) {
      return /^\s*(hi|hello|hey|thanks|thank you|good (morning|afternoon|evening))\b/.test(query) ? { workflow: 'chat', confidence: 0.9 } : undefined;
    },
  },
];

/**
 * Picks a workflow for a request: an explicit `workflow` wins; otherwise rules over the query text give
 * a workflow and a confidence; below `confidenceThreshold` the `defaultWorkflow` is used. The decision
 * says why.
 */
export class Router {
  readonly defaultWorkflow: string;
  readonly confidenceThreshold: number;
  private readonly rules: readonly RoutingRule[];

  constructor(options: RouterOptions = {}) {
    this.defaultWorkflow = options.defaultWorkflow ?? 'search_qa';
    this.confidenceThreshold = options.confidenceThreshold ?? 0.5;
    if (!(this.confidenceThreshold >= 0 && this.confidenceThreshold <= 1)) {
      throw new InvalidRequestError(`router.confidence_threshold must be between 0 and 1, got ${this.confidenceThreshold}.`);
    }
    this.rules = [...(options.rules ?? []), ...(options.replaceBuiltInRules ? [] : DEFAULT_ROUTING_RULES)];
  }

  /** A Router from the `router` section of system.yaml. */
  static fromConfig(section: RouterConfigInput = {}): Router {
    const options: RouterOptions = {};
    if (section.default_workflow !== undefined) options.defaultWorkflow = section.default_workflow;
    if (section.confidence_threshold !== undefined) options.confidenceThreshold = section.confidence_threshold;
    if (section.rules && section.rules.length > 0) {
      options.rules = rulesFromConfig(section.rules);
      options.replaceBuiltInRules = true;
    }
    return new Router(options);
  }

  route(request: { query: string; workflow?: string | undefined }): RoutingDecision {
    if (request.workflow !== undefined && request.workflow !== '') {
      const matched = { workflow: request.workflow, confidence: 1, rule: 'explicit' };
      return { workflow: request.workflow, confidence: 1, reason: `workflow "${request.workflow}" was requested explicitly`, matched };
    }
    const query = String(request.query ?? '').toLowerCase();
    let best = { workflow: 'chat', confidence: 0.5, rule: 'fallback to chat' };
    for (const rule of this.rules) {
      const hit = rule.match(query);
      if (hit && hit.confidence > best.confidence) best = { ...hit, rule: rule.name };
    }
    const confidence = Math.min(1, Math.max(0, best.confidence));
    if (confidence < this.confidenceThreshold) {
      return {
        workflow: this.defaultWorkflow,
        confidence,
        reason: `best rule "${best.rule}" chose ${best.workflow} with confidence ${confidence.toFixed(2)}, below the threshold ${this.confidenceThreshold}; using default_workflow "${this.defaultWorkflow}"`,
        matched: best,
      };
    }
    return { workflow: best.workflow, confidence, reason: `rule "${best.rule}" matched with confidence ${confidence.toFixed(2)}`, matched: best };
  }
}
