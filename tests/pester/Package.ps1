# Dot-sourced by the Pester files: lays the module out once per PowerShell process (./build.ps1 Package) and
# returns the module folder, so several test files do not publish it again.
function Get-CassaFSPackage {
    $root = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
    $module = Join-Path $root 'out/CassaFS'
    if (-not $global:CassaFSPackaged) {
        & (Join-Path $root 'build.ps1') Package | Out-Host
        $global:CassaFSPackaged = $true
    }
    $module
}

# The test servers the test host passes (CASSAFS_TEST_CASSANDRA / CASSAFS_TEST_ZOOKEEPER, "host:port"), as drive parameters.
function Get-CassaTestServers {
    $cassandraHost, $cassandraPort = $env:CASSAFS_TEST_CASSANDRA -split ':'
    @{
        ContactPoints = $cassandraHost
        Port          = [int]$cassandraPort
        ZooKeeper     = "$($env:CASSAFS_TEST_ZOOKEEPER)/pester-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
        Consistency   = 'One'
    }
}

# A formatted keyspace on the test servers and a cassa: drive on it (lock timeout 5 s); returns the keyspace.
function Initialize-CassaTestDrive([string] $Prefix = 'pester') {
    $servers = Get-CassaTestServers
    $keyspace = "$($Prefix)_$([guid]::NewGuid().ToString('N').Substring(0, 10))"
    $format = @{} + $servers
    $format.Remove('ZooKeeper')
    Initialize-CassaFileSystem @format -Keyspace $keyspace -Confirm:$false -ErrorAction Stop
    New-PSDrive -Name cassa -PSProvider CassaFS -Root / -Keyspace $keyspace @servers -LockTimeoutSeconds 5 -Scope Global -ErrorAction Stop | Out-Null
    [pscustomobject]@{ Keyspace = $keyspace; Servers = $servers }
}

# A fresh directory on the cassa: drive ("cassa:/t-xxxxxxxx").
function New-TestDirectory {
    $path = "cassa:/t-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
    New-Item -Path $path -ItemType Directory | Out-Null
    $path
}

# The FullyQualifiedErrorId and category of the first error a script block writes.
function Get-FirstError([scriptblock] $Script) {
    $Error.Clear()
    try { & $Script 2>$null | Out-Null } catch { }
    $e = $Error | Select-Object -Last 1
    if ($null -eq $e) { return $null }
    [pscustomobject]@{ Id = $e.FullyQualifiedErrorId; Category = [string]$e.CategoryInfo.Category; Message = $e.ToString() }
}

# Another PowerShell session (a job: its own process and ZooKeeper session) that takes a file's Write lock, says
# 'locked', and holds it until the job is stopped.
function Start-LockHolder([hashtable] $Servers, [string] $Keyspace, [string] $FileSystemPath, [string] $Purpose) {
    $job = Start-Job -ScriptBlock {
        param($module, $servers, $keyspace, $path, $purpose)
        Import-Module (Join-Path $module 'CassaFS.psd1') -ErrorAction Stop
        New-PSDrive -Name cassa -PSProvider CassaFS -Root / -Keyspace $keyspace @servers -ErrorAction Stop | Out-Null
        $handle = Lock-CassaItem -LiteralPath "cassa:$path" -Mode Write -Purpose $purpose -ErrorAction Stop
        'locked'
        while ($handle.State -eq 'Held') { Start-Sleep -Milliseconds 200 }
    } -ArgumentList (Get-CassaFSPackage), $Servers, $Keyspace, $FileSystemPath, $Purpose
    $deadline = (Get-Date).AddSeconds(60)
    while ((Get-Date) -lt $deadline) {
        if (@(Receive-Job $job -Keep) -contains 'locked') { return $job }
        if ($job.State -in 'Failed', 'Completed') { throw "lock holder job ended: $(Receive-Job $job 2>&1 | Out-String)" }
        Start-Sleep -Milliseconds 200
    }
    throw 'lock holder job did not take the lock within 60 s'
}
