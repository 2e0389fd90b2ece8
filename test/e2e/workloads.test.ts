/**
 * The workload controllers on a one-node cluster with real containers, driven with kubectl 1.33: Jobs
 * (completions, Indexed, failure policies, deadlines, suspend, TTL), CronJobs, ReplicationControllers,
 * DaemonSets and StatefulSets, and the validation users meet when a workload is wrong.
 */
import { after, before, describe, test } from 'node:test';
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { Cleanup, hasKubectl, kubectl, run, startOneNodeCluster, waitFor, type ClusterServer } from './helpers.js';

describe('workloads', { skip: !hasKubectl && 'kubectl is not installed' }, () => {
  const cleanup = new Cleanup();
  let server: ClusterServer;
  const k = (args: string[], input?: string): { code: number; stdout: string; stderr: string } =>
    run(kubectl, args, { env: server.env, input });
  const ok = (args: string[], input?: string): string => {
    const r = k(args, input);
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const apply = (yaml: string): string => ok(['apply', '-f', '-'], yaml);
  const jsonpath = (args: string[], expr: string): string => ok([...args, '-o', `jsonpath=${expr}`]);
  const podNames = (selector: string): string[] =>
    jsonpath(['get', 'pods', '-l', selector], '{.items[*].metadata.name}').split(' ').filter(Boolean);

  before(async () => {
    ({ server } = await startOneNodeCluster(cleanup, 'work-1', ['--horizontal-pod-autoscaler-sync-period=3s']));
    // Created first: its first scheduled run comes within a minute, checked by the last test.
    ok(['create', 'cronjob', 'tick', '--image=busybox', '--schedule=*/1 * * * *', '--', 'sh', '-c', 'echo tick']);
  });
  after(() => cleanup.run());

  test('a Job runs to completion: kubectl wait, get and logs', () => {
    ok(['create', 'job', 'once', '--image=busybox', '--', 'sh', '-c', 'echo done']);
    ok(['wait', '--for=condition=complete', 'job/once', '--timeout=60s']);
    assert.match(
      ok(['get', 'job', 'once']),
      /^NAME\s+STATUS\s+COMPLETIONS\s+DURATION\s+AGE\nonce\s+Complete\s+1\/1\s+/,
    );
    assert.equal(ok(['logs', 'job/once']), 'done\n');
    const selector = jsonpath(['get', 'job', 'once'], '{.spec.selector.matchLabels}');
    assert.match(selector, /batch\.kubernetes\.io\/controller-uid/);
    assert.equal(podNames('job-name=once').length, 1);
  });

  test('an Indexed Job gives each pod its JOB_COMPLETION_INDEX; completions and parallelism hold', () => {
    apply(`apiVersion: batch/v1
kind: Job
metadata: {name: indexed}
spec:
  completions: 4
  parallelism: 2
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - {name: w, image: busybox, command: [sh, -c, 'echo "index=$JOB_COMPLETION_INDEX host=$(hostname)"']}
`);
    ok(['wait', '--for=condition=complete', 'job/indexed', '--timeout=90s']);
    assert.equal(jsonpath(['get', 'job', 'indexed'], '{.status.completedIndexes} {.status.succeeded}'), '0-3 4');
    const lines = podNames('job-name=indexed')
      .map((p) => ok(['logs', p]).trim())
      .sort();
    assert.deepEqual(
      lines,
      [0, 1, 2, 3].map((i) => `index=${i} host=indexed-${i}`),
    );
  });

  test('failures: backoffLimit, a pod failure policy, activeDeadlineSeconds', () => {
    const job = (name: string, spec: string, command: string): string =>
      apply(`apiVersion: batch/v1
kind: Job
metadata: {name: ${name}}
spec:
${spec}
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - {name: main, image: busybox, command: [sh, -c, '${command}']}
`);
    job('limit', '  backoffLimit: 0', 'exit 1');
    job(
      'policy',
      '  backoffLimit: 5\n  podFailurePolicy:\n    rules:\n    - {action: FailJob, onExitCodes: {operator: In, values: [42]}}',
      'exit 42',
    );
    job('deadline', '  activeDeadlineSeconds: 3', 'sleep 60');
    job(
      'perindex',
      '  completionMode: Indexed\n  completions: 3\n  parallelism: 3\n  backoffLimitPerIndex: 0',
      'test "$JOB_COMPLETION_INDEX" != 1',
    );
    for (const [name, reason] of [
      ['limit', 'BackoffLimitExceeded'],
      ['policy', 'PodFailurePolicy'],
      ['deadline', 'DeadlineExceeded'],
      ['perindex', 'FailedIndexes'],
    ]) {
      ok(['wait', '--for=condition=failed', `job/${name}`, '--timeout=60s']);
      assert.equal(jsonpath(['get', 'job', name], '{.status.conditions[?(@.type=="Failed")].reason}'), reason, name);
    }
    assert.match(
      jsonpath(['get', 'job', 'policy'], '{.status.conditions[?(@.type=="Failed")].message}'),
      /^Container main for pod default\/policy-\w+ failed with exit code 42 matching FailJob rule at index 0$/,
    );
    assert.match(ok(['get', 'job', 'limit']), /limit\s+Failed\s+0\/1/);
    // Index 1 failed once, past its own limit of 0; the other indexes ran to success.
    assert.equal(
      jsonpath(['get', 'job', 'perindex'], '{.status.failedIndexes} {.status.completedIndexes} {.spec.backoffLimit}'),
      '1 0,2 2147483647',
    );
    assert.equal(
      ok(['get', 'pods', '-l', 'job-name=perindex,batch.kubernetes.io/job-completion-index=1', '-o', 'name'])
        .trim()
        .split('\n').length,
      1,
      'a failed index is not run again',
    );
  });

  test('a suspended Job makes no pods until resumed; ttlSecondsAfterFinished removes a finished one', async () => {
    apply(`apiVersion: batch/v1
kind: Job
metadata: {name: later}
spec:
  suspend: true
  ttlSecondsAfterFinished: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: w, image: busybox, command: [sh, -c, 'true']}
`);
    await waitFor(() => /later\s+Suspended/.test(ok(['get', 'job', 'later'])), 'the Suspended status', 10000);
    assert.deepEqual(podNames('job-name=later'), []);
    ok(['patch', 'job', 'later', '--type=merge', '-p', '{"spec":{"suspend":false}}']);
    ok(['wait', '--for=condition=complete', 'job/later', '--timeout=60s']);
    await waitFor(() => k(['get', 'job', 'later']).code !== 0, 'the finished Job to be deleted', 20000);
    await waitFor(() => !podNames('job-name=later').length, 'its pod to go', 20000);
  });

  test('a ReplicationController keeps its replicas, scales, adopts a matching pod and reports status', async () => {
    apply(`apiVersion: v1
kind: ReplicationController
metadata: {name: rc-web}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: rc-web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: w, image: busybox, command: [sleep, '3600']}]
`);
    assert.equal(jsonpath(['get', 'rc', 'rc-web'], '{.spec.selector.app}'), 'rc-web');
    await waitFor(
      () => /rc-web\s+2\s+2\s+2/.test(ok(['get', 'rc', 'rc-web'])),
      'two ready replicas in kubectl get rc',
      60000,
    );
    ok(['scale', 'rc', 'rc-web', '--replicas=3']);
    await waitFor(() => jsonpath(['get', 'rc', 'rc-web'], '{.status.readyReplicas}') === '3', 'three ready', 60000);
    ok(['scale', 'rc', 'rc-web', '--replicas=2']);
    await waitFor(() => podNames('app=rc-web').length === 2, 'back to two', 30000);
    ok(['delete', 'rc', 'rc-web']);
    await waitFor(() => !podNames('app=rc-web').length, 'its pods to go', 30000);
    // A bare pod with the labels is adopted: a controller made after it makes no pod of its own.
    ok([
      'run',
      'stray',
      '--image=busybox',
      '--labels=app=rc-adopt',
      '--overrides={"spec":{"terminationGracePeriodSeconds":1}}',
      '--',
      'sleep',
      '3600',
    ]);
    apply(`apiVersion: v1
kind: ReplicationController
metadata: {name: rc-adopt}
spec:
  replicas: 1
  selector: {app: rc-adopt}
  template:
    metadata: {labels: {app: rc-adopt}}
    spec: {containers: [{name: w, image: busybox, command: [sleep, '3600']}]}
`);
    await waitFor(
      () => jsonpath(['get', 'pod', 'stray'], '{.metadata.ownerReferences[0].kind}') === 'ReplicationController',
      'the stray pod to be adopted',
      20000,
    );
    await waitFor(
      () => jsonpath(['get', 'rc', 'rc-adopt'], '{.status.replicas}') === '1',
      'the status to count it',
      20000,
    );
    assert.deepEqual(podNames('app=rc-adopt'), ['stray']);
    ok(['delete', 'rc', 'rc-adopt']);
    await waitFor(() => !podNames('app=rc-adopt').length, 'the adopted pod to go with it', 30000);
  });

  test('a DaemonSet runs on every eligible node, rolls out, has a history and rolls back', async () => {
    apply(`apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      nodeSelector: {role: edge}
      terminationGracePeriodSeconds: 1
      containers: [{name: a, image: busybox, command: [sleep, '3600'], env: [{name: V, value: '1'}]}]
`);
    await waitFor(
      () => /agent\s+0\s+0\s+0\s+0\s+0\s+role=edge/.test(ok(['get', 'ds', 'agent'])),
      'no eligible node yet',
      10000,
    );
    ok(['label', 'node', 'work-1', 'role=edge']);
    // Until the controller sees the label, the status still says 0 of 0 and rollout status would pass at once.
    await waitFor(
      () => jsonpath(['get', 'ds', 'agent'], '{.status.desiredNumberScheduled}') === '1',
      'the labelled node to be counted',
      10000,
    );
    const rs = k(['rollout', 'status', 'ds/agent', '--timeout=20s']);
    if (rs.code)
      console.log(ok(['get', 'ds,pods,controllerrevisions', '-o', 'yaml']), ok(['get', 'nodes', '-o', 'yaml']));
    assert.match(ok(['get', 'ds', 'agent']), /agent\s+1\s+1\s+1\s+1\s+1\s+role=edge/);
    const first = podNames('app=agent');
    assert.equal(jsonpath(['get', 'pod', first[0]!], '{.spec.nodeName}'), 'work-1');
    ok(['set', 'env', 'ds/agent', 'V=2']);
    ok(['rollout', 'status', 'ds/agent', '--timeout=60s']);
    const second = podNames('app=agent');
    assert.equal(second.length, 1);
    assert.notEqual(second[0], first[0]);
    assert.match(ok(['rollout', 'history', 'ds/agent']), /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/);
    ok(['rollout', 'undo', 'ds/agent']);
    await waitFor(
      () => jsonpath(['get', 'ds', 'agent'], '{.spec.template.spec.containers[0].env[0].value}') === '1',
      'the template to be rolled back',
      10000,
    );
    ok(['rollout', 'status', 'ds/agent', '--timeout=60s']);
    assert.equal(jsonpath(['get', 'pods', '-l', 'app=agent'], '{.items[*].spec.containers[0].env[0].value}'), '1');
    ok(['label', 'node', 'work-1', 'role-']);
    await waitFor(() => !podNames('app=agent').length, 'the pod to leave the node that no longer qualifies', 30000);
    ok(['delete', 'ds', 'agent']);
  });

  test('a StatefulSet: ordered pods with stable names and DNS, a partitioned rolling update, scale down', async () => {
    apply(`apiVersion: v1
kind: Service
metadata: {name: nginx}
spec:
  clusterIP: None
  selector: {app: sts-web}
  ports: [{port: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: nginx
  replicas: 3
  selector: {matchLabels: {app: sts-web}}
  template:
    metadata: {labels: {app: sts-web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: h
        image: busybox
        command: [sh, -c, 'echo "$(hostname) $V" > /tmp/index.html && exec httpd -f -p 8080 -h /tmp']
        env: [{name: V, value: one}]
        readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
`);
    // OrderedReady: web-1 only once web-0 is Ready, web-2 once web-1 is.
    const created: string[] = [];
    await waitFor(
      () => {
        for (const p of podNames('app=sts-web')) if (!created.includes(p)) created.push(p);
        return /web\s+3\/3/.test(ok(['get', 'sts', 'web']));
      },
      'three ready replicas',
      90000,
    );
    assert.deepEqual(created, ['web-0', 'web-1', 'web-2']);
    const ip0 = jsonpath(['get', 'pod', 'web-0'], '{.status.podIP}');
    const lookup = ok(['exec', 'web-1', '--', 'nslookup', 'web-0.nginx.default.svc.cluster.local']);
    assert.ok(lookup.includes(ip0), lookup);
    assert.equal(ok(['exec', 'web-2', '--', 'hostname']), 'web-2\n');

    ok(['patch', 'sts', 'web', '--type=merge', '-p', '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":1}}}}']);
    ok(['set', 'env', 'sts/web', 'V=two']);
    await waitFor(
      () => jsonpath(['get', 'sts', 'web'], '{.status.updatedReplicas}') === '2',
      'web-2 and web-1 updated',
      90000,
    );
    ok(['rollout', 'status', 'sts/web', '--timeout=60s']);
    const env = (p: string): string => jsonpath(['get', 'pod', p], '{.spec.containers[0].env[0].value}');
    assert.deepEqual(['web-0', 'web-1', 'web-2'].map(env), ['one', 'two', 'two']);
    assert.match(ok(['rollout', 'history', 'sts/web']), /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/);
    ok(['rollout', 'undo', 'sts/web']);
    await waitFor(
      () =>
        ['web-0', 'web-1', 'web-2'].every(
          (p) => k(['get', 'pod', p, '-o', 'jsonpath={.spec.containers[0].env[0].value}']).stdout === 'one',
        ),
      'the rollback to reach the pods above the partition',
      90000,
    );
    ok(['rollout', 'status', 'sts/web', '--timeout=60s']);
    ok(['scale', 'sts', 'web', '--replicas=1']);
    await waitFor(() => podNames('app=sts-web').join(',') === 'web-0', 'web-2 then web-1 removed', 60000);
    ok(['delete', 'sts', 'web']);
    ok(['delete', 'svc', 'nginx']);
  });

  test('kubectl top reads node and pod metrics; an HPA scales a Deployment up under CPU load and back down', async () => {
    apply(`apiVersion: apps/v1
kind: Deployment
metadata: {name: burn}
spec:
  replicas: 1
  selector: {matchLabels: {app: burn}}
  template:
    metadata: {labels: {app: burn}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: busybox, command: [sleep, '3600'], resources: {requests: {cpu: 100m, memory: 16Mi}}}
`);
    ok(['rollout', 'status', 'deploy/burn', '--timeout=60s']);
    const [pod] = podNames('app=burn');
    await waitFor(
      () =>
        new RegExp(`^${pod}\\s+c\\s+\\d+m\\s+\\d+Mi`, 'm').test(
          k(['top', 'pods', '-l', 'app=burn', '--containers']).stdout,
        ),
      'kubectl top pods --containers',
      30000,
    );
    assert.match(ok(['top', 'node']), /^work-1\s+\d+m\s+\d+%\s+\d+Mi\s+\d+%/m);
    ok(['autoscale', 'deployment', 'burn', '--cpu-percent=50', '--min=1', '--max=3']);
    ok([
      'patch',
      'hpa',
      'burn',
      '--type=merge',
      '-p',
      '{"spec":{"behavior":{"scaleDown":{"stabilizationWindowSeconds":10}}}}',
    ]);
    await waitFor(
      () => /burn\s+Deployment\/burn\s+cpu: \d+%\/50%\s+1\s+3\s+1/.test(ok(['get', 'hpa', 'burn'])),
      'TARGETS',
      30000,
    ).catch((err: unknown) => {
      console.log(ok(['get', 'hpa', 'burn', '-o', 'yaml']), ok(['get', 'hpa', 'burn']));
      throw err;
    });
    const load = spawn(kubectl, ['exec', pod!, '--', 'sh', '-c', 'while [ ! -e /tmp/stop ]; do :; done'], {
      env: { ...process.env, ...server.env },
      stdio: 'ignore',
    });
    cleanup.add(() => {
      load.kill();
    });
    const started = Date.now();
    await waitFor(() => jsonpath(['get', 'deploy', 'burn'], '{.spec.replicas}') === '3', 'the scale-up to max', 90000);
    console.log(`HPA reaction (load to 3 replicas): ${Date.now() - started} ms`);
    assert.match(ok(['get', 'hpa', 'burn']), /cpu: \d+%\/50%/);
    assert.match(
      ok(['describe', 'hpa', 'burn']),
      /SuccessfulRescale\s.*New size: 3; reason: cpu resource utilization \(percentage of request\) above target/,
    );
    ok(['exec', pod!, '--', 'touch', '/tmp/stop']);
    await waitFor(
      () => jsonpath(['get', 'deploy', 'burn'], '{.spec.replicas}') === '1',
      'the scale-down to min',
      90000,
    );
    ok(['delete', 'hpa', 'burn']);
    ok(['delete', 'deploy', 'burn']);
  });

  test("HPA metrics beyond the pod's resources: a container's CPU is measured; Pods and External metrics say no adapter serves them", async () => {
    apply(`apiVersion: apps/v1
kind: Deployment
metadata: {name: meter}
spec:
  replicas: 1
  selector: {matchLabels: {app: meter}}
  template:
    metadata: {labels: {app: meter}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: busybox, command: [sleep, '3600'], resources: {requests: {cpu: 100m}}}
`);
    ok(['rollout', 'status', 'deploy/meter', '--timeout=60s']);
    const hpa = (metric: string): string =>
      apply(`apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: meter}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: meter}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: ContainerResource
    containerResource: {name: cpu, container: c, target: {type: Utilization, averageUtilization: 50}}
${metric}`);
    hpa(`  - type: Pods
    pods: {metric: {name: packets-per-second}, target: {type: AverageValue, averageValue: 1k}}
`);
    await waitFor(
      () => /meter\s+Deployment\/meter\s+cpu: \d+%\/50%, <unknown>\/1k\s+1\s+3\s+1/.test(ok(['get', 'hpa', 'meter'])),
      "TARGETS with the container's CPU measured and the Pods metric unknown",
      30000,
    );
    // The idle container asks for fewer replicas; the metric that cannot be read holds the scale down back.
    await waitFor(
      () =>
        /ScalingActive\s+False\s+FailedGetPodsMetric\s+the HPA was unable to compute the replica count: unable to get metric packets-per-second: unable to fetch metrics from custom metrics API: no custom metrics API \(custom\.metrics\.k8s\.io\) registered/.test(
          ok(['describe', 'hpa', 'meter']),
        ),
      'the FailedGetPodsMetric condition',
      30000,
    );
    hpa(`  - type: External
    external:
      metric: {name: queue_messages_ready, selector: {matchLabels: {queue: tasks}}}
      target: {type: AverageValue, averageValue: '30'}
`);
    await waitFor(
      () =>
        /ScalingActive\s+False\s+FailedGetExternalMetric\s+the HPA was unable to compute the replica count: unable to get external metric default\/queue_messages_ready\//.test(
          ok(['describe', 'hpa', 'meter']),
        ),
      'the FailedGetExternalMetric condition',
      30000,
    );
    assert.match(ok(['get', 'hpa', 'meter']), /cpu: \d+%\/50%, <unknown>\/30 \(avg\)/);
    assert.equal(jsonpath(['get', 'deploy', 'meter'], '{.spec.replicas}'), '1');
    ok(['delete', 'hpa', 'meter']);
    ok(['delete', 'deploy', 'meter']);
  });

  test('PriorityClasses: priority admitted, FailedScheduling explained, a higher-priority pod preempts', async () => {
    const cpu = Number(jsonpath(['get', 'node', 'work-1'], '{.status.allocatable.cpu}'));
    const most = `${Math.floor(cpu * 600)}m`;
    ok(['create', 'priorityclass', 'high', '--value=1000']);
    ok(['create', 'priorityclass', 'low', '--value=10']);
    const podYaml = (name: string, cls?: string): string => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, labels: {app: prio}}
spec:
  ${cls ? `priorityClassName: ${cls}` : 'restartPolicy: Always'}
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: busybox, command: [sleep, '3600'], resources: {requests: {cpu: ${most}}}}]
`;
    apply(podYaml('low', 'low'));
    ok(['wait', '--for=condition=Ready', 'pod/low', '--timeout=60s']);
    assert.equal(jsonpath(['get', 'pod', 'low'], '{.spec.priority}'), '10');
    apply(podYaml('needy'));
    await waitFor(
      () => /0\/1 nodes are available: 1 Insufficient cpu\./.test(ok(['describe', 'pod', 'needy'])),
      'FailedScheduling in describe',
      20000,
    );
    apply(podYaml('vip', 'high'));
    ok(['wait', '--for=condition=Ready', 'pod/vip', '--timeout=60s']);
    await waitFor(() => k(['get', 'pod', 'low']).code !== 0, 'the low-priority pod to be preempted', 30000);
    assert.equal(jsonpath(['get', 'pod', 'needy'], '{.status.phase}'), 'Pending');
    assert.match(
      k(['apply', '-f', '-'], podYaml('nope', 'missing')).stderr,
      /pods "nope" is forbidden: no PriorityClass with name missing was found/,
    );
    ok(['delete', 'pod', '-l', 'app=prio']);
  });

  test('preemption spares a pod its PodDisruptionBudget protects when evicting another will do', async () => {
    const cpu = Number(jsonpath(['get', 'node', 'work-1'], '{.status.allocatable.cpu}'));
    const share = (percent: number): string => `${Math.floor(cpu * percent * 10)}m`;
    ok(['create', 'priorityclass', 'p-guarded', '--value=10']);
    ok(['create', 'priorityclass', 'p-plain', '--value=20']);
    ok(['create', 'priorityclass', 'p-vip', '--value=1000']);
    const podYaml = (name: string, cls: string, percent: number): string => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, labels: {app: ${name}, test: pdb-preempt}}
spec:
  priorityClassName: ${cls}
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: busybox, command: [sleep, '3600'], resources: {requests: {cpu: ${share(percent)}}}}]
`;
    try {
      apply(podYaml('guarded', 'p-guarded', 35));
      apply(podYaml('plain', 'p-plain', 35));
      ok(['wait', '--for=condition=Ready', 'pod/guarded', 'pod/plain', '--timeout=60s']);
      ok(['create', 'pdb', 'guard', '--selector=app=guarded', '--min-available=1']);
      await waitFor(
        () => jsonpath(['get', 'pdb', 'guard'], '{.status.currentHealthy}/{.status.disruptionsAllowed}') === '1/0',
        'the budget to protect its pod',
        20000,
      );
      // Without the budget the lower-priority pod would go; with it, the other one does.
      apply(podYaml('vip', 'p-vip', 50));
      ok(['wait', '--for=condition=Ready', 'pod/vip', '--timeout=60s']);
      await waitFor(() => k(['get', 'pod', 'plain']).code !== 0, 'the unprotected pod to be preempted', 30000);
      assert.equal(jsonpath(['get', 'pod', 'guarded'], '{.status.phase}'), 'Running');
    } finally {
      k(['delete', 'pod', '-l', 'test=pdb-preempt', '--wait=false']);
      k(['delete', 'pdb', 'guard']);
      k(['delete', 'priorityclass', 'p-guarded', 'p-plain', 'p-vip']);
    }
  });

  test('wrong workloads are refused with Kubernetes’ field errors', () => {
    const refused = (yaml: string): string => {
      const r = k(['apply', '-f', '-'], yaml);
      assert.notEqual(r.code, 0, yaml);
      return r.stderr;
    };
    assert.match(
      refused(`apiVersion: apps/v1
kind: Deployment
metadata: {name: bad}
spec:
  replicas: -1
  selector: {matchLabels: {app: a}}
  template: {metadata: {labels: {app: b}}, spec: {containers: [{name: c, image: busybox}]}}
`),
      /spec\.replicas: Invalid value: -1: must be greater than or equal to 0[^]*spec\.template\.metadata\.labels: Invalid value: .*`selector` does not match template `labels`/,
    );
    assert.match(
      refused(`apiVersion: batch/v1
kind: Job
metadata: {name: bad}
spec:
  template: {spec: {containers: [{name: c, image: busybox}]}}
`),
      /spec\.template\.spec\.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"/,
    );
    assert.match(
      k(['create', 'cronjob', 'bad', '--image=busybox', '--schedule=61 * * * *']).stderr,
      /spec\.schedule: Invalid value: "61 \* \* \* \*": minute: 61 out of range/,
    );
    assert.match(
      refused(`apiVersion: batch/v1
kind: Job
metadata: {name: bad}
spec:
  completionMode: Indexed
  completions: null
  parallelism: 2
  template: {spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}}
`),
      /spec\.completions: Required value: when completion mode is Indexed/,
    );
  });

  test('a CronJob starts a Job at its scheduled minute; create job --from=cronjob works', async () => {
    ok(['create', 'job', 'by-hand', '--from=cronjob/tick']);
    assert.equal(
      jsonpath(['get', 'job', 'by-hand'], '{.metadata.annotations.cronjob\\.kubernetes\\.io/instantiate}'),
      'manual',
    );
    ok(['wait', '--for=condition=complete', 'job/by-hand', '--timeout=60s']);
    await waitFor(
      () => jsonpath(['get', 'cronjob', 'tick'], '{.status.lastScheduleTime}') !== '',
      'the first scheduled run',
      75000,
    );
    // One Job per scheduled minute since the CronJob was made (this file runs a few minutes), named
    // after its minute, the latest being the last schedule time.
    const created = Date.parse(jsonpath(['get', 'cronjob', 'tick'], '{.metadata.creationTimestamp}'));
    const minutes = jsonpath(['get', 'jobs'], '{.items[*].metadata.name}')
      .split(' ')
      .filter((n) => /^tick-\d+$/.test(n))
      .map((n) => Number(n.slice(5)))
      .sort();
    const last = Date.parse(jsonpath(['get', 'cronjob', 'tick'], '{.status.lastScheduleTime}'));
    assert.ok(minutes.length >= 1 && minutes.length <= 3, `scheduled jobs: ${minutes.join(', ')}`);
    assert.equal(minutes.at(-1)! * 60_000, last);
    minutes.forEach((m, i) => {
      assert.ok(m * 60_000 > created, 'scheduled after the CronJob was made');
      if (i) assert.equal(m, minutes[i - 1]! + 1, 'one per minute, none skipped or doubled');
    });
    ok(['wait', '--for=condition=complete', `job/tick-${minutes.at(-1)}`, '--timeout=60s']);
    assert.match(ok(['get', 'cronjob', 'tick']), /tick\s+\*\/1 \* \* \* \*\s+<none>\s+false\s+\d\s+\d+s\s+/);
  });
});
