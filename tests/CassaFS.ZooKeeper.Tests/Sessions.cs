using System.Collections.Concurrent;
using CassaFS.Testing;

namespace CassaFS.ZooKeeper.Tests;

/// <summary>Connects test clients under a fresh chroot of the run's shared ZooKeeper.</summary>
internal static class Sessions
{
    public static async Task<string> FreshChrootAsync(string prefix, string? servers = null)
    {
        servers ??= await TestServers.ZooKeeperAsync();
        var chroot = TestNames.Chroot(prefix);
        await using var root = await ZooKeeperClient.ConnectAsync(servers);
        await root.EnsurePathAsync(chroot);
        return servers + chroot;
    }

    public static Task<ZooKeeperClient> ConnectAsync(string connectString, TimeSpan? sessionTimeout = null, Action<ConnectionState>? states = null) =>
        ZooKeeperClient.ConnectAsync(connectString, new ZooKeeperClientOptions
        {
            SessionTimeout = sessionTimeout ?? TimeSpan.FromSeconds(10),
            ConnectTimeout = TimeSpan.FromSeconds(20),
            StateChanged = states,
        });

    public static async Task<T> Within<T>(Task<T> task, double seconds, string what)
    {
        var done = await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(seconds)));
        Assert.True(done == task, $"{what} did not happen within {seconds} s");
        return await task;
    }
}

/// <summary>Records connection states in order and lets a test wait for one.</summary>
internal sealed class StateLog
{
    private readonly ConcurrentQueue<ConnectionState> _seen = new();
    private readonly ConcurrentDictionary<ConnectionState, TaskCompletionSource> _waiters = new();

    public void Record(ConnectionState state)
    {
        _seen.Enqueue(state);
        Waiter(state).TrySetResult();
    }

    public IReadOnlyList<ConnectionState> Seen => _seen.ToList();

    public Task WaitAsync(ConnectionState state, double seconds) =>
        Sessions.Within(Waiter(state).Task.ContinueWith(_ => true, TaskScheduler.Default), seconds, $"state {state} (seen: {string.Join(", ", Seen)})");

    private TaskCompletionSource Waiter(ConnectionState state) =>
        _waiters.GetOrAdd(state, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
}
