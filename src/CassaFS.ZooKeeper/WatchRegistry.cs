namespace CassaFS.ZooKeeper;

/// <summary>
/// The client's outstanding one-shot watches by client path, in ZooKeeper's three kinds; re-registered with
/// SetWatches on every reconnect so that no change within the session goes unseen.
/// </summary>
internal sealed class WatchRegistry
{
    private readonly object _gate = new();
    private readonly Dictionary<string, HashSet<Action<WatchedEvent>>> _data = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<Action<WatchedEvent>>> _exist = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<Action<WatchedEvent>>> _child = new(StringComparer.Ordinal);

    public void AddData(string path, Action<WatchedEvent> watch) => Add(_data, path, watch);
    public void AddExist(string path, Action<WatchedEvent> watch) => Add(_exist, path, watch);
    public void AddChild(string path, Action<WatchedEvent> watch) => Add(_child, path, watch);

    /// <summary>Removes and returns the watches an event fires (each callback once even if set twice).</summary>
    public List<Action<WatchedEvent>> Take(WatchEventType type, string path)
    {
        var fired = new HashSet<Action<WatchedEvent>>();
        lock (_gate)
        {
            switch (type)
            {
                case WatchEventType.NodeCreated:
                case WatchEventType.NodeDataChanged:
                    Move(_data, path, fired);
                    Move(_exist, path, fired);
                    break;
                case WatchEventType.NodeChildrenChanged:
                    Move(_child, path, fired);
                    break;
                case WatchEventType.NodeDeleted:
                    Move(_data, path, fired);
                    Move(_exist, path, fired);
                    Move(_child, path, fired);
                    break;
            }
        }
        return fired.ToList();
    }

    /// <summary>Removes and returns every watch (the session ended).</summary>
    public List<Action<WatchedEvent>> TakeAll()
    {
        var all = new HashSet<Action<WatchedEvent>>();
        lock (_gate)
        {
            foreach (var map in new[] { _data, _exist, _child })
            {
                foreach (var set in map.Values) all.UnionWith(set);
                map.Clear();
            }
        }
        return all.ToList();
    }

    public (List<string> Data, List<string> Exist, List<string> Child) Paths()
    {
        lock (_gate) return (_data.Keys.ToList(), _exist.Keys.ToList(), _child.Keys.ToList());
    }

    public int Count
    {
        get
        {
            lock (_gate) return _data.Count + _exist.Count + _child.Count;
        }
    }

    private void Add(Dictionary<string, HashSet<Action<WatchedEvent>>> map, string path, Action<WatchedEvent> watch)
    {
        lock (_gate)
        {
            if (!map.TryGetValue(path, out var set)) map[path] = set = new HashSet<Action<WatchedEvent>>();
            set.Add(watch);
        }
    }

    private static void Move(Dictionary<string, HashSet<Action<WatchedEvent>>> map, string path, HashSet<Action<WatchedEvent>> into)
    {
        if (map.Remove(path, out var set)) into.UnionWith(set);
    }
}
