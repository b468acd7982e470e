export {
  answerDashboard,
  isAdminCredential,
  DASHBOARD_PREFIX,
  type DashboardAnswer,
  type DashboardSource,
} from './dashboard-routes';
export {
  processSnapshot,
  DASHBOARD_METRICS,
  type DashboardData,
  type ProcessSnapshot,
  type Sample,
} from './snapshot';
export { gatherInstances } from './gather';
