/** The shell: login gate, navigation, connection banner, tasks panel, keyboard shortcuts, page routing. */
import { useEffect, useState } from 'react';
import { connection, logout, session } from './api';
import { useNow, useObservable } from './hooks';
import { Link, navigate, usePath } from './router';
import { duration } from './format';
import { LoginPage } from './pages/login';
import { DashboardPage } from './pages/dashboard';
import { VmListPage } from './pages/vm-list';
import { VmCreatePage } from './pages/vm-create';
import { VmPage } from './pages/vm-page';
import { StoragePage } from './pages/storage';
import { NetworksPage } from './pages/networks';
import { ImagesPage } from './pages/images';
import { TasksPanel } from './pages/tasks-panel';

const NAV: { to: string; label: string; key: string }[] = [
  { to: '/', label: 'Dashboard', key: 'd' },
  { to: '/vms', label: 'Virtual machines', key: 'v' },
  { to: '/images', label: 'Images', key: 'i' },
  { to: '/storage', label: 'Storage', key: 's' },
  { to: '/networks', label: 'Networks', key: 'n' },
];

export function App() {
  const s = useObservable(session);
  const path = usePath();
  if (!s) return <LoginPage />;
  return <Shell path={path} />;
}

function Shell({ path }: { path: string }) {
  const s = useObservable(session)!;
  const [tasksOpen, setTasksOpen] = useState(false);
  useShortcuts(() => setTasksOpen((v) => !v));
  useEffect(() => {
    if (path === '/login') navigate('/', true);
  }, [path]);

  return (
    <div className="shell">
      <nav className="sidebar" aria-label="Main">
        <div className="brand"><span className="logo">T</span> typevisor</div>
        {NAV.map((n) => (
          <Link key={n.to} to={n.to} className={isActive(path, n.to) ? 'nav active' : 'nav'} title={`g ${n.key}`}>
            {n.label}
          </Link>
        ))}
        <button type="button" className="nav nav-button" onClick={() => setTasksOpen((v) => !v)} aria-expanded={tasksOpen} title="t">
          Tasks
        </button>
        <div className="sidebar-foot">
          <div className="who">{s.name} <span className={`role role-${s.role}`}>{s.role}</span></div>
          <button type="button" onClick={() => void logout()}>Log out</button>
          <div className="shortcuts">keys: g d/v/i/s/n · c create · / filter · t tasks</div>
        </div>
      </nav>
      <main className="content">
        <ConnectionBanner />
        <Page path={path} />
      </main>
      <TasksPanel open={tasksOpen} onClose={() => setTasksOpen(false)} />
    </div>
  );
}

function isActive(path: string, to: string): boolean {
  return to === '/' ? path === '/' : path === to || path.startsWith(`${to}/`);
}

function Page({ path }: { path: string }) {
  if (path === '/' || path === '/login') return <DashboardPage />;
  if (path === '/vms') return <VmListPage />;
  if (path === '/vms/new') return <VmCreatePage />;
  const vm = /^\/vms\/([^/]+)$/.exec(path);
  if (vm) return <VmPage vmRef={decodeURIComponent(vm[1]!)} />;
  if (path === '/storage') return <StoragePage />;
  if (path === '/networks') return <NetworksPage />;
  if (path === '/images') return <ImagesPage />;
  return (
    <div className="page">
      <h1>Not found</h1>
      <p>No page at {path}. <Link to="/">Go to the dashboard</Link>.</p>
    </div>
  );
}

function ConnectionBanner() {
  const c = useObservable(connection);
  const now = useNow(1000);
  if (c.state === 'up') return null;
  return (
    <div className="banner" role="alert" data-testid="connection-banner">
      <strong>Connection lost:</strong> {c.reason} (for {duration(now - c.since)}). Reconnecting automatically; data on this page may be stale.
    </div>
  );
}

/** "g" then a letter jumps to a page; "c" opens the create wizard; "t" toggles the tasks panel. */
function useShortcuts(toggleTasks: () => void): void {
  useEffect(() => {
    let pendingG = 0;
    const onKey = (e: KeyboardEvent): void => {
      const t = e.target as HTMLElement | null;
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName) || t.closest('.xterm'))) return;
      if (document.querySelector('dialog[open]')) return;
      if (Date.now() - pendingG < 1500) {
        const hit = NAV.find((n) => n.key === e.key);
        pendingG = 0;
        if (hit) {
          e.preventDefault();
          navigate(hit.to);
        }
        return;
      }
      if (e.key === 'g') pendingG = Date.now();
      else if (e.key === 'c') {
        e.preventDefault();
        navigate('/vms/new');
      } else if (e.key === 't') toggleTasks();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [toggleTasks]);
}
