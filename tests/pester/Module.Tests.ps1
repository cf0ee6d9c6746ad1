#Requires -Version 7.4
# Pester 5. Run by `./build.ps1 Test` (through the test host) wherever pwsh and Pester exist.

BeforeAll {
    $script:Root = Resolve-Path (Join-Path $PSScriptRoot '../..')
    & (Join-Path $Root 'build.ps1') Package | Out-Host
    $script:Module = Join-Path $Root 'out/CassaFS'
}

Describe 'CassaFS.psd1' {
    It 'is a valid manifest once packaged' {
        $manifest = Test-ModuleManifest (Join-Path $Module 'CassaFS.psd1') -ErrorAction Stop
        $manifest.Name | Should -Be 'CassaFS'
        $manifest.PowerShellVersion | Should -Be ([version]'7.4')
        $manifest.CompatiblePSEditions | Should -Contain 'Core'
    }

    It 'exports nothing by wildcard' {
        $data = Import-PowerShellDataFile (Join-Path $Root 'CassaFS.psd1')
        foreach ($key in 'FunctionsToExport', 'CmdletsToExport', 'VariablesToExport', 'AliasesToExport') {
            $data.ContainsKey($key) | Should -BeTrue -Because "$key must be an explicit list"
            @($data[$key]) -contains '*' | Should -BeFalse -Because "$key must not be a wildcard"
        }
    }

    It 'loads into a session from the packaged folder' {
        $job = Start-Job -ScriptBlock { param($m) Import-Module (Join-Path $m 'CassaFS.psd1') -ErrorAction Stop; (Get-Module CassaFS).Version.ToString() } -ArgumentList $Module
        $job | Wait-Job | Receive-Job -ErrorAction Stop | Should -Be '0.1.0'
    }
}
