import type { z } from 'zod';

/** One invalid field as the API's `details` and the bulk CLI's rejects file: which field, what was wrong. */
export interface FieldProblem {
  field: string;
  message: string;
}

export function fieldProblems(error: z.ZodError): FieldProblem[] {
  return error.issues.map((issue) => {
    const field = issue.path.join('.') || '(body)';
    if (issue.code === 'unrecognized_keys') return { field, message: `unknown field(s): ${issue.keys.join(', ')}` };
    return { field, message: issue.message };
  });
}

export function describeProblems(problems: readonly FieldProblem[]): string {
  return problems.map((p) => (p.message.startsWith(p.field) ? p.message : `${p.field}: ${p.message}`)).join('; ');
}
