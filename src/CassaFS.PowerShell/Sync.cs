using System.Management.Automation;

namespace CassaFS.PowerShell;

/// <summary>
/// Providers and cmdlets are synchronous: this is the one place that waits for the async logic. Each wait carries the
/// caller's stop token (cancelled by StopProcessing, that is Ctrl+C or PowerShell.Stop), so a long lock wait ends at once;
/// a wait cancelled that way surfaces as PipelineStoppedException, which PowerShell expects of a stopped command.
/// </summary>
internal static class Sync
{
    public static T Wait<T>(this CancellationToken stop, Func<CancellationToken, Task<T>> work)
    {
        try
        {
            return Task.Run(() => work(stop), CancellationToken.None).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
    }

    public static void Wait(this CancellationToken stop, Func<CancellationToken, Task> work) =>
        stop.Wait(async ct => { await work(ct).ConfigureAwait(false); return true; });

    /// <summary>
    /// Runs <paramref name="work"/>, which reports updates from any thread, and hands each update to
    /// <paramref name="onUpdate"/> on the caller's thread as it arrives: PowerShell takes WriteProgress (and every
    /// other Write) only from the pipeline thread.
    /// </summary>
    public static T WithUpdates<T, TUpdate>(this CancellationToken stop, Func<Action<TUpdate>, CancellationToken, Task<T>> work, Action<TUpdate> onUpdate)
    {
        using var updates = new System.Collections.Concurrent.BlockingCollection<TUpdate>();
        var task = Task.Run(async () =>
        {
            try
            {
                return await work(updates.Add, stop).ConfigureAwait(false);
            }
            finally
            {
                updates.CompleteAdding();
            }
        }, CancellationToken.None);
        foreach (var update in updates.GetConsumingEnumerable(CancellationToken.None)) onUpdate(update);
        try
        {
            return task.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
    }

    /// <summary>An async stream as a blocking one, so the caller's thread gets each item as it arrives.</summary>
    public static IEnumerable<T> Enumerate<T>(this CancellationToken stop, Func<CancellationToken, IAsyncEnumerable<T>> source)
    {
        var e = source(stop).GetAsyncEnumerator(stop);
        try
        {
            while (stop.Wait(_ => e.MoveNextAsync().AsTask())) yield return e.Current;
        }
        finally
        {
            Task.Run(() => e.DisposeAsync().AsTask()).GetAwaiter().GetResult();
        }
    }
}

/// <summary>Cancels on StopProcessing; a fresh source once the stopped command is over (PowerShell may reuse the instance).</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "A source without timers holds nothing to release; providers and cmdlets are never disposed by PowerShell.")]
internal sealed class StopSignal
{
    private CancellationTokenSource _source = new();

    public CancellationToken Token(bool stopping)
    {
        if (_source.IsCancellationRequested && !stopping) _source = new CancellationTokenSource();
        return _source.Token;
    }

    public void Stop() => _source.Cancel();
}
