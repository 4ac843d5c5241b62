// Lint: typescript-eslint's recommended rules, plus the layering rule that keeps
// devices pure (ARCHITECTURE.md); test/layers.test.ts checks every layer rule.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'web/dist/**', 'native/build/**', '.cache/**', 'test-output/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['src/devices/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/kvm/**', '**/sys/**', '**/native/**'], message: 'devices are pure: no KVM, no system calls (ARCHITECTURE.md)' }] },
      ],
    },
  },
);
