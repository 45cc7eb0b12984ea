/** Part A's manifest folders: applied together by the deploy command, checked together by the tests. */
export const PART_A = ['platform/rocketchat', 'platform/gitlab', 'services/webhook-app/k8s'] as const;
