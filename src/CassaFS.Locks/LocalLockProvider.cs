using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace CassaFS.Locks;

/// <summary>
/// In-process read/write locks per key, for a client that mounts alone (and for fast unit tests): FIFO-fair
/// (a writer queued behind readers goes before later readers), timeouts, cancellation, and a fencing token from one
/// counter per provider (so strictly increasing per key). Never Suspended; Lost only when broken by an operator.
/// </summary>
public sealed class LocalLockProvider : ILockProvider
{
    private readonly Dictionary<LockKey, Queue> _queues = new();
    private readonly object _gate = new();
    private long _fence;
    private long _ids;

    /// <param name="owner">Who holds, as operators see it (default: host and pid).</param>
    public LocalLockProvider(string? owner = null)
    {
        Owner = owner ?? $"{Environment.MachineName}:{Environment.ProcessId}";
    }

    public string Name => "local";

    public string Owner { get; }

    public async ValueTask<ILockHandle> AcquireAsync(LockRequest request, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var clock = Stopwatch.StartNew();
        var handle = new Handle(this, request, LockHolder.ForThisProcess(request, Owner),
            Interlocked.Increment(ref _ids).ToString(CultureInfo.InvariantCulture));
        lock (_gate)
        {
            if (!_queues.TryGetValue(request.Key, out var queue)) _queues[request.Key] = queue = new Queue();
            queue.Waiting.AddLast(handle);
            Pump(queue);
        }
        if (handle.Granted.IsCompleted) return handle;
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (request.Timeout is { } t) limit.CancelAfter(t);
        try
        {
            await handle.Granted.WaitAsync(limit.Token).ConfigureAwait(false);
            return handle;
        }
        catch (OperationCanceledException)
        {
            if (Withdraw(handle)) return handle; // granted just as we gave up: keep it
            if (ct.IsCancellationRequested) throw;
            throw new LockTimeoutException(request.Key, clock.Elapsed, (await InspectAsync(request.Key, CancellationToken.None).ConfigureAwait(false)).Holders);
        }
    }

    /// <summary>Takes a waiter out of its queue; true when it had been granted meanwhile.</summary>
    private bool Withdraw(Handle handle)
    {
        lock (_gate)
        {
            if (handle.Granted.IsCompleted) return true;
            var queue = _queues[handle.Key];
            queue.Waiting.Remove(handle);
            Pump(queue);
            Tidy(handle.Key, queue);
            return false;
        }
    }

    /// <summary>Grants from the head of the queue while compatible: one writer alone, or a run of readers.</summary>
    private void Pump(Queue queue)
    {
        while (queue.Waiting.First is { } first)
        {
            var next = first.Value;
            var fits = next.Mode == LockMode.Write ? queue.Holders.Count == 0 : queue.Holders.All(h => h.Mode == LockMode.Read);
            if (!fits) return;
            queue.Waiting.RemoveFirst();
            queue.Holders.Add(next);
            next.Grant(Interlocked.Increment(ref _fence));
        }
    }

    private void Tidy(LockKey key, Queue queue)
    {
        if (queue.Holders.Count == 0 && queue.Waiting.Count == 0) _queues.Remove(key);
    }

    private bool Release(Handle handle)
    {
        lock (_gate)
        {
            if (!_queues.TryGetValue(handle.Key, out var queue) || !queue.Holders.Remove(handle)) return false;
            Pump(queue);
            Tidy(handle.Key, queue);
            return true;
        }
    }

    public async IAsyncEnumerable<LockInfo> ListAsync(string? keyPrefix = null, [EnumeratorCancellation] CancellationToken ct = default)
    {
        List<LockKey> keys;
        lock (_gate) keys = _queues.Keys.Where(k => k.StartsWith(keyPrefix)).Order().ToList();
        foreach (var key in keys)
        {
            ct.ThrowIfCancellationRequested();
            var info = await InspectAsync(key, ct).ConfigureAwait(false);
            if (info.Holders.Count + info.Waiters.Count > 0) yield return info;
        }
    }

    public ValueTask<LockInfo> InspectAsync(LockKey key, CancellationToken ct = default)
    {
        lock (_gate)
        {
            if (!_queues.TryGetValue(key, out var queue)) return ValueTask.FromResult(new LockInfo(key, Array.Empty<LockParticipant>(), Array.Empty<LockParticipant>()));
            return ValueTask.FromResult(new LockInfo(key,
                queue.Holders.Select(h => h.Participant).ToList(),
                queue.Waiting.Select(h => h.Participant).ToList()));
        }
    }

    public ValueTask<bool> BreakAsync(LockKey key, string participantId, string reason, CancellationToken ct = default)
    {
        Handle? broken;
        lock (_gate)
        {
            if (!_queues.TryGetValue(key, out var queue)) return ValueTask.FromResult(false);
            broken = queue.Holders.FirstOrDefault(h => h.Id == participantId);
            if (broken is null) return ValueTask.FromResult(false);
            queue.Holders.Remove(broken);
            Pump(queue);
            Tidy(key, queue);
        }
        broken.Break($"{Owner} at {DateTimeOffset.UtcNow:u}: {reason}");
        return ValueTask.FromResult(true);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private sealed class Queue
    {
        public LinkedList<Handle> Waiting { get; } = new();
        public List<Handle> Holders { get; } = new();
    }

    private sealed class Handle(LocalLockProvider provider, LockRequest request, LockHolder holder, string id) : ILockHandle
    {
        private readonly TaskCompletionSource _granted = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly CancellationTokenSource _lost = new();
        private int _state = (int)LockState.Held;

        public string Id { get; } = id;
        public LockKey Key { get; } = request.Key;
        public LockMode Mode { get; } = request.Mode;
        public long FencingToken { get; private set; }
        public LockHolder Holder { get; private set; } = holder;
        public LockState State => (LockState)Volatile.Read(ref _state);
        public event EventHandler<LockState>? StateChanged;
        public CancellationToken LostToken => _lost.Token;
        public Task Granted => _granted.Task;
        public LockParticipant Participant => new(Id, Mode, Holder, FencingToken);

        public void Grant(long token)
        {
            FencingToken = token;
            _granted.TrySetResult();
        }

        public void Break(string by)
        {
            Holder = Holder with { BrokenBy = by };
            if (Interlocked.CompareExchange(ref _state, (int)LockState.Lost, (int)LockState.Held) != (int)LockState.Held) return;
            StateChanged?.Invoke(this, LockState.Lost);
            _lost.Cancel();
        }

        public ValueTask ReleaseAsync(CancellationToken ct = default)
        {
            provider.Release(this);
            var previous = Interlocked.Exchange(ref _state, (int)LockState.Released);
            if (previous != (int)LockState.Released) StateChanged?.Invoke(this, LockState.Released);
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync() => ReleaseAsync();
    }
}
