// What every lane app shares, in the lanes' resource group: the plan they run on, the storage
// their host and task hubs use, the one user-assigned identity they run as (granted its roles
// once, here: a lane app's own identity would need new grants per lane, which the router must not
// be able to make), and the package container the pipelines upload releases to.
// The router's roles on these are in router-access.bicep.
param name string
param token string
param location string
param tags object
param planSku string
param useDurableTaskScheduler bool
@description('Principals that may upload packages (the pipeline, the user running azd).')
param uploaderPrincipalIds array

// provisioning/azure_plan.py: the backend reads the plan's SKU and builds each lane app for it.
var isConsumption = planSku == 'Y1'
var isElasticPremium = startsWith(planSku, 'EP')
var packageContainerName = 'packages'

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  durableTaskDataContributor: '0ad04412-c4d5-4796-b79c-f76d14c8d402'
}

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: 'plan-${name}-lanes'
  location: location
  tags: tags
  kind: isConsumption ? 'functionapp' : (isElasticPremium ? 'elastic' : 'linux')
  sku: {
    name: planSku
    tier: isConsumption ? 'Dynamic' : (isElasticPremium ? 'ElasticPremium' : null)
  }
  properties: {
    reserved: true // Linux: lane apps are Python function apps
    maximumElasticWorkerCount: isElasticPremium ? 20 : null
  }
}

resource laneIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${name}-lanes'
  location: location
  tags: tags
}

resource laneStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'stlane${token}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    // Lanes reach it by identity; only Elastic Premium's content share (Azure Files) needs a key.
    allowSharedKeyAccess: isElasticPremium
  }
}

// Identity-based AzureWebJobsStorage and Durable's Azure Storage provider (docs: functions-reference,
// "Connecting to host storage with an identity"; durable-functions-configure-managed-identity).
resource laneBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(laneStorage.id, laneIdentity.id, roles.storageBlobDataOwner)
  scope: laneStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: laneIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Queues: the host's and Durable's work items.
resource laneQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(laneStorage.id, laneIdentity.id, roles.storageQueueDataContributor)
  scope: laneStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: laneIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Tables: Durable's history and instances tables.
resource laneTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(laneStorage.id, laneIdentity.id, roles.storageTableDataContributor)
  scope: laneStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: laneIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The release packages, in an account of their own: the lanes' identity owns the blobs of the
// lanes' storage, and must not be able to overwrite the packages every version runs from.
resource packageStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'stpkg${token}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // pipelines upload with `--auth-mode login`, lanes read by identity
  }
}

resource packageBlobs 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: packageStorage
  name: 'default'
}

resource packageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: packageBlobs
  name: packageContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Lanes fetch a package URL without a SAS with their identity:
// WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID (docs: run-functions-from-deployment-package).
resource lanePackageReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(packageContainer.id, laneIdentity.id, roles.storageBlobDataReader)
  scope: packageContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataReader)
    principalId: laneIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// The pipeline uploads each release's package (`az storage blob upload --auth-mode login`).
resource packageUploaders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for uploader in uploaderPrincipalIds: {
  name: guid(packageContainer.id, uploader, roles.storageBlobDataContributor)
  scope: packageContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: uploader
  }
}]

// Elastic Premium only: its content share is Azure Files, which takes no managed identity, so its
// connection string is a Key Vault secret the lane apps resolve with their identity
// (ROUTER_LANE_CONTENT_SECRET_URI; docs: functions-app-settings, app-service-key-vault-references).
resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = if (isElasticPremium) {
  name: 'kv${token}'
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
  }
}

resource contentSecret 'Microsoft.KeyVault/vaults/secrets@2024-11-01' = if (isElasticPremium) {
  parent: vault
  name: 'lane-content-share-connection'
  properties: {
    value: 'DefaultEndpointsProtocol=https;AccountName=${laneStorage.name};AccountKey=${laneStorage.listKeys().keys[0].value};EndpointSuffix=${environment().suffixes.storage}'
  }
}

// Key Vault references resolve with the site's keyVaultReferenceIdentity (the lanes' identity).
resource laneSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isElasticPremium) {
  name: guid(vault.id, laneIdentity.id, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: laneIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Optional: each lane gets its own task hub here, created and deleted by the router.
resource scheduler 'Microsoft.DurableTask/schedulers@2026-02-01' = if (useDurableTaskScheduler) {
  name: 'dts-${name}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'Consumption'
    }
    ipAllowlist: ['0.0.0.0/0'] // an empty list refuses every caller
  }
}

// The lanes' hosts read and write their task hubs (docs: durable-task-scheduler-identity).
resource laneTaskData 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (useDurableTaskScheduler) {
  name: guid(scheduler.id, laneIdentity.id, roles.durableTaskDataContributor)
  scope: scheduler
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.durableTaskDataContributor)
    principalId: laneIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

output planId string = plan.id
output identityId string = laneIdentity.id
output identityName string = laneIdentity.name
output identityClientId string = laneIdentity.properties.clientId
output storageAccountName string = laneStorage.name
output packageStorageAccountName string = packageStorage.name
output packageContainerName string = packageContainer.name
// ROUTER_ALLOWED_PACKAGE_HOSTS: the packages' blob host, in this cloud.
output packageHost string = '${packageStorage.name}.blob.${environment().suffixes.storage}'
output contentSecretUri string = isElasticPremium ? contentSecret.properties.secretUri : ''
output schedulerId string = useDurableTaskScheduler ? scheduler.id : ''
output schedulerName string = useDurableTaskScheduler ? scheduler.name : ''
