using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace CassaFS.ZooKeeper;

/// <summary>
/// Runs watch and state callbacks one at a time, in the order the I/O loop queued them, on a task of its own so
/// a slow callback never stalls replies. Its length is bounded by the watches outstanding plus state changes.
/// </summary>
internal sealed class EventQueue
{
    private readonly Channel<Action> _items = Channel.CreateUnbounded<Action>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ILogger? _logger;
    private readonly Task _runner;

    public EventQueue(ILogger? logger)
    {
        _logger = logger;
        _runner = Task.Run(RunAsync);
    }

    public void Post(Action item) => _items.Writer.TryWrite(item);

    /// <summary>Lets queued callbacks finish, then stops.</summary>
    public async Task CompleteAsync()
    {
        _items.Writer.TryComplete();
        await _runner.ConfigureAwait(false);
    }

    private async Task RunAsync()
    {
        await foreach (var item in _items.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                item();
            }
#pragma warning disable CA1031 // A failing user callback must not stop the delivery of later events.
            catch (Exception e)
#pragma warning restore CA1031
            {
                if (_logger is not null) ClientLog.CallbackFailed(_logger, e);
            }
        }
    }
}
