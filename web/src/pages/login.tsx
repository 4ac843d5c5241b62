/** Login with user + password (a session token) or with an API token. */
import { useState, type FormEvent } from 'react';
import { ApiFailure, errorText, login, loginWithToken } from '../api';
import { Field } from '../components/ui';

export function LoginPage() {
  const [mode, setMode] = useState<'password' | 'token'>('password');
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === 'password') await login(user.trim(), password);
      else await loginWithToken(token.trim());
    } catch (err) {
      setError(err instanceof ApiFailure && err.status === 401
        ? (mode === 'password' ? 'Wrong user name or password.' : 'This token is not valid (unknown, revoked or expired).')
        : errorText(err));
      setBusy(false);
    }
  };

  return (
    <div className="login">
      <form className="login-card" onSubmit={(e) => void submit(e)} aria-label="Log in">
        <div className="brand big"><span className="logo">T</span> typevisor</div>
        <div className="tabs" role="tablist">
          <button type="button" role="tab" aria-selected={mode === 'password'} className={mode === 'password' ? 'tab active' : 'tab'} onClick={() => setMode('password')}>Password</button>
          <button type="button" role="tab" aria-selected={mode === 'token'} className={mode === 'token' ? 'tab active' : 'tab'} onClick={() => setMode('token')}>API token</button>
        </div>
        {mode === 'password' ? (
          <>
            <Field label="User" name="user">
              <input name="user" autoComplete="username" autoFocus value={user} onChange={(e) => setUser(e.target.value)} required />
            </Field>
            <Field label="Password" name="password">
              <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
            </Field>
          </>
        ) : (
          <Field label="Token" name="token" hint="An API token (typevisor token create), e.g. the admin token printed at first start">
            <input name="token" type="password" autoFocus value={token} onChange={(e) => setToken(e.target.value)} required />
          </Field>
        )}
        {error && <div className="error-box" role="alert" data-testid="login-error">{error}</div>}
        <button type="submit" className="primary wide" disabled={busy}>{busy ? 'Logging in…' : 'Log in'}</button>
      </form>
    </div>
  );
}
